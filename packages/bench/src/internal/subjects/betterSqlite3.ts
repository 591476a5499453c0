/**
 * better-sqlite3, configured the way its users make it durable: WAL journal with
 * `synchronous = FULL` (every commit fsyncs the WAL), one table with an integer key and a BLOB.
 *
 * better-sqlite3 is synchronous, so concurrent producers go through the bench's group commit (one
 * transaction per round), which is what a careful user does; each commit blocks the event loop
 * for its fsync, which the event-loop delay column shows. The unsynced patterns switch to
 * `synchronous = NORMAL` (WAL commits without fsync, its fast setting) and end with one
 * `synchronous = FULL` commit.
 *
 * @since 0.1.0
 */
import { createRequire } from "node:module"
import { join } from "node:path"
import type { Session, Subject } from "../driver.ts"
import * as GroupCommit from "../groupCommit.ts"

const FILE_NAME = "sqlite.db"

interface Statement {
  run(...params: ReadonlyArray<unknown>): unknown
  raw(toggle?: boolean): Statement
  iterate(...params: ReadonlyArray<unknown>): IterableIterator<Array<unknown>>
}
interface Database {
  pragma(source: string, options?: { simple?: boolean }): unknown
  exec(source: string): unknown
  prepare(source: string): Statement
  transaction<A extends ReadonlyArray<unknown>>(fn: (...args: A) => void): (...args: A) => void
  close(): unknown
}
type DatabaseConstructor = new (path: string, options?: { readonly?: boolean }) => Database

const load = (): DatabaseConstructor => createRequire(import.meta.url)("better-sqlite3") as DatabaseConstructor

const openSession = async (directory: string, unsynced: boolean): Promise<Session> => {
  const Database = load()
  const db = new Database(join(directory, FILE_NAME))
  db.pragma("journal_mode = WAL")
  db.pragma(unsynced ? "synchronous = NORMAL" : "synchronous = FULL")
  db.exec("CREATE TABLE log (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
  const insert = db.prepare("INSERT INTO log (payload) VALUES (?)")
  const insertMany = db.transaction((payloads: ReadonlyArray<Uint8Array>) => {
    for (const payload of payloads) insert.run(payload)
  })
  const committer = GroupCommit.make<Uint8Array>((payloads) => insertMany(payloads))
  const sync = async (): Promise<void> => {
    // A FULL commit fsyncs the WAL, which holds every earlier NORMAL commit too.
    db.pragma("synchronous = FULL")
    db.exec("BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS marker (x); DROP TABLE marker; COMMIT")
  }
  return {
    detail: unsynced
      ? "WAL, synchronous=NORMAL for the unsynced appends, one synchronous=FULL commit at the end"
      : "WAL, synchronous=FULL, group commit (one transaction per round)",
    appendDurable: (payload) => committer.submit(payload),
    appendBatchDurable: async (payloads) => insertMany(payloads),
    append: (payload) => {
      insert.run(payload)
    },
    appendBatch: (payloads) => insertMany(payloads),
    sync,
    close: async () => {
      await sync()
      db.close()
    },
  }
}

const readAll = async (directory: string, visit: (payload: Uint8Array) => void): Promise<void> => {
  const Database = load()
  const db = new Database(join(directory, FILE_NAME), { readonly: true })
  try {
    for (const row of db.prepare("SELECT payload FROM log ORDER BY id").raw(true).iterate()) {
      visit(row[0] as Uint8Array)
    }
  } finally {
    db.close()
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
  open: (directory, workload) =>
    openSession(
      directory,
      workload.kind === "unsynced" || workload.kind === "unsyncedBatch" || workload.kind === "scan",
    ),
  readAll,
}
