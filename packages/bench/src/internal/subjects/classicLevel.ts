/**
 * classic-level (LevelDB) with `{ sync: true }` writes, the setting its users need for
 * durability. Concurrent producers go through the bench's group commit (one synced `batch` per
 * round); unsynced patterns use its default asynchronous writes and end with one synced write,
 * which syncs LevelDB's log and so everything before it. Keys are 8-byte big-endian sequence
 * numbers (so iteration order is append order), values raw bytes.
 *
 * @since 0.1.0
 */
import { createRequire } from "node:module"
import { join } from "node:path"
import type { Session, Subject } from "../driver.ts"
import * as GroupCommit from "../groupCommit.ts"

const DIRECTORY_NAME = "level"
/** Records are read back this many at a time. */
const READ_BATCH = 1000

interface Operation {
  readonly type: "put" | "del"
  readonly key: Uint8Array
  readonly value?: Uint8Array
}
interface Database {
  open(): Promise<void>
  put(key: Uint8Array, value: Uint8Array, options?: { sync?: boolean }): Promise<void>
  del(key: Uint8Array, options?: { sync?: boolean }): Promise<void>
  batch(operations: ReadonlyArray<Operation>, options?: { sync?: boolean }): Promise<void>
  values(): { nextv(size: number): Promise<Array<Uint8Array>>; close(): Promise<void> }
  close(): Promise<void>
}
type ClassicLevel = new (location: string, options: object) => Database

const load = (): ClassicLevel =>
  (createRequire(import.meta.url)("classic-level") as { ClassicLevel: ClassicLevel }).ClassicLevel

const encodeKey = (sequence: number): Uint8Array => {
  const key = new Uint8Array(8)
  new DataView(key.buffer).setBigUint64(0, BigInt(sequence))
  return key
}

/** A key after every record key, deleted with `sync: true` to sync the log. */
const SYNC_KEY = new Uint8Array(9).fill(0xff)

const open = async (directory: string): Promise<Database> => {
  const ClassicLevel = load()
  const db = new ClassicLevel(join(directory, DIRECTORY_NAME), { keyEncoding: "view", valueEncoding: "view" })
  await db.open()
  return db
}

const openSession = async (directory: string): Promise<Session> => {
  const db = await open(directory)
  let nextKey = 0
  const operations = (payloads: ReadonlyArray<Uint8Array>): Array<Operation> =>
    payloads.map((value) => ({ type: "put", key: encodeKey(nextKey++), value }))
  const committer = GroupCommit.make<Uint8Array>((payloads) => db.batch(operations(payloads), { sync: true }))
  const sync = (): Promise<void> => db.del(SYNC_KEY, { sync: true })
  return {
    detail: "{ sync: true } writes, group commit (one synced batch per round)",
    appendDurable: (payload) => committer.submit(payload),
    appendBatchDurable: (payloads) => db.batch(operations(payloads), { sync: true }),
    append: (payload) => db.put(encodeKey(nextKey++), payload),
    appendBatch: (payloads) => db.batch(operations(payloads)),
    sync,
    close: async () => {
      await sync()
      await db.close()
    },
  }
}

const readAll = async (directory: string, visit: (payload: Uint8Array) => void): Promise<void> => {
  const db = await open(directory)
  const values = db.values()
  try {
    for (;;) {
      const batch = await values.nextv(READ_BATCH)
      if (batch.length === 0) break
      for (const value of batch) visit(value)
    }
  } finally {
    await values.close()
    await db.close()
  }
}

/**
 * @since 0.1.0
 */
export const subject: Subject = {
  available: async () => {
    load()
    return undefined
  },
  open: (directory) => openSession(directory),
  readAll,
}
