/**
 * lmdb (lmdb-js) with its durable default: writes are queued into one asynchronous transaction
 * per event turn (its own batching, so concurrent producers need no help from the bench) and
 * every commit is flushed to disk. With `separateFlushed`, a write's promise resolves when it is
 * committed and its `flushed` promise when it is durable: durable patterns await `flushed`.
 * Keys are dense integers (ordered), values raw bytes.
 *
 * @since 0.1.0
 */
import { createRequire } from "node:module"
import { join } from "node:path"
import type { Session, Subject } from "../driver.ts"

const DIRECTORY_NAME = "lmdb"

interface WritePromise extends Promise<boolean> {
  readonly flushed: Promise<boolean>
}
interface Database {
  put(key: number, value: Uint8Array): WritePromise
  getRange(options: object): Iterable<{ readonly value: Uint8Array }>
  readonly flushed: Promise<boolean>
  close(): Promise<void>
}
interface Lmdb {
  open(options: object): Database
}

const load = (): Lmdb => createRequire(import.meta.url)("lmdb") as Lmdb

const options = (directory: string, readOnly: boolean) => ({
  path: join(directory, DIRECTORY_NAME),
  encoding: "binary",
  compression: false,
  separateFlushed: true,
  readOnly,
})

const openSession = async (directory: string): Promise<Session> => {
  const db = load().open(options(directory, false))
  let nextKey = 0
  let last: WritePromise | undefined
  const put = (payload: Uint8Array): WritePromise => {
    last = db.put(nextKey++, payload)
    return last
  }
  const putMany = (payloads: ReadonlyArray<Uint8Array>): WritePromise | undefined => {
    let written: WritePromise | undefined
    for (const payload of payloads) written = put(payload)
    return written
  }
  const sync = async (): Promise<void> => {
    if (last !== undefined) await last.flushed
    await db.flushed
  }
  return {
    detail: "durable default (overlappingSync, every commit flushed), writes batched per event turn, await flushed",
    appendDurable: async (payload) => {
      await put(payload).flushed
    },
    appendBatchDurable: async (payloads) => {
      await putMany(payloads)?.flushed
    },
    // lmdb-js holds each value until its batch commits, after `put` returned.
    keepsPayloads: true,
    // Unsynced: queue the write, do not wait for its commit or flush.
    append: (payload) => {
      put(payload)
    },
    appendBatch: (payloads) => {
      putMany(payloads)
    },
    sync,
    close: async () => {
      await sync()
      await db.close()
    },
  }
}

const readAll = async (directory: string, visit: (payload: Uint8Array) => void): Promise<void> => {
  const db = load().open(options(directory, true))
  try {
    for (const { value } of db.getRange({})) visit(value)
  } finally {
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
