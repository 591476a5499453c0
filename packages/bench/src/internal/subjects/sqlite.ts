/**
 * SQLite as bench subjects, through two bindings of the same engine: Node's built-in
 * `node:sqlite` (`DatabaseSync`, always available: no native build) and better-sqlite3 (where its
 * optional install loaded). Both are configured the way their users make SQLite durable: WAL
 * journal with `synchronous = FULL` (every commit fsyncs the WAL), one table with an integer key
 * and a BLOB.
 *
 * Both bindings are synchronous, so concurrent producers go through the bench's group commit (one
 * transaction per round), which is what a careful user does; each commit holds the event loop for
 * its whole fsync, which the event-loop p99 column shows. The unsynced patterns switch to
 * `synchronous = NORMAL` (WAL commits without fsync, its fast setting) and end with one
 * `synchronous = FULL` commit.
 *
 * @since 0.1.0
 */
import { createRequire } from "node:module"
import { join } from "node:path"
import type { StatementSync } from "node:sqlite"
import type { Session, Subject } from "../driver.ts"
import * as GroupCommit from "../groupCommit.ts"

const FILE_NAME = "sqlite.db"

/** The few calls both bindings share, as the subject uses them. */
interface Database {
  readonly exec: (sql: string) => void
  /** A prepared single-parameter insert. */
  readonly insert: (payload: Uint8Array) => void
  /** The payloads in key order. */
  readonly payloads: () => Iterable<Uint8Array>
  readonly close: () => void
}

/** How one binding opens a database file. */
interface Binding {
  readonly name: string
  readonly open: (path: string, readOnly: boolean) => Database
}

const INSERT_SQL = "INSERT INTO log (payload) VALUES (?)"
const SELECT_SQL = "SELECT payload FROM log ORDER BY id"

const nodeSqlite: Binding = {
  name: "node:sqlite",
  open: (path, readOnly) => {
    // Loaded here, not imported: on a Node without it (22 before 22.13 needs a flag) only this
    // subject is skipped, not better-sqlite3 with it.
    const { DatabaseSync } = process.getBuiltinModule("node:sqlite")
    const db = new DatabaseSync(path, { readOnly })
    let prepared: StatementSync | undefined
    return {
      exec: (sql) => db.exec(sql),
      insert: (payload) => {
        prepared ??= db.prepare(INSERT_SQL)
        prepared.run(payload)
      },
      payloads: function* () {
        const select = db.prepare(SELECT_SQL)
        select.setReturnArrays(true)
        for (const row of select.iterate()) yield (row as unknown as Array<unknown>)[0] as Uint8Array
      },
      close: () => db.close(),
    }
  },
}

interface BetterSqliteStatement {
  run(...params: ReadonlyArray<unknown>): unknown
  raw(toggle?: boolean): BetterSqliteStatement
  iterate(): IterableIterator<Array<unknown>>
}
interface BetterSqliteDatabase {
  exec(sql: string): unknown
  prepare(sql: string): BetterSqliteStatement
  close(): unknown
}
type BetterSqlite = new (path: string, options?: { readonly?: boolean }) => BetterSqliteDatabase

const loadBetterSqlite = (): BetterSqlite => createRequire(import.meta.url)("better-sqlite3") as BetterSqlite

const betterSqlite3: Binding = {
  name: "better-sqlite3",
  open: (path, readOnly) => {
    const db = new (loadBetterSqlite())(path, { readonly: readOnly })
    let prepared: BetterSqliteStatement | undefined
    return {
      exec: (sql) => void db.exec(sql),
      insert: (payload) => {
        prepared ??= db.prepare(INSERT_SQL)
        prepared.run(payload)
      },
      payloads: function* () {
        for (const row of db.prepare(SELECT_SQL).raw(true).iterate()) yield row[0] as Uint8Array
      },
      close: () => void db.close(),
    }
  },
}

/** Runs `body` in one transaction: one WAL commit (and, at FULL, one fsync) for all of it. */
const transaction = (db: Database, body: () => void): void => {
  db.exec("BEGIN")
  try {
    body()
  } catch (error) {
    db.exec("ROLLBACK")
    throw error
  }
  db.exec("COMMIT")
}

const openSession = async (binding: Binding, directory: string, unsynced: boolean): Promise<Session> => {
  const db = binding.open(join(directory, FILE_NAME), false)
  db.exec("PRAGMA journal_mode = WAL")
  db.exec(unsynced ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL")
  db.exec("CREATE TABLE log (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
  const insertMany = (payloads: ReadonlyArray<Uint8Array>): void =>
    transaction(db, () => {
      for (const payload of payloads) db.insert(payload)
    })
  const committer = GroupCommit.make<Uint8Array>(insertMany)
  const sync = async (): Promise<void> => {
    // A FULL commit fsyncs the WAL, which holds every earlier NORMAL commit too.
    db.exec("PRAGMA synchronous = FULL")
    db.exec("BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS marker (x); DROP TABLE marker; COMMIT")
  }
  return {
    detail: `${binding.name}, ${
      unsynced
        ? "WAL, synchronous=NORMAL for the unsynced appends, one synchronous=FULL commit at the end"
        : "WAL, synchronous=FULL, group commit (one transaction per round)"
    }`,
    appendDurable: (payload) => committer.submit(payload),
    appendBatchDurable: async (payloads) => insertMany(payloads),
    append: (payload) => db.insert(payload),
    appendBatch: (payloads) => insertMany(payloads),
    sync,
    close: async () => {
      await sync()
      db.close()
    },
  }
}

const makeSubject = (binding: Binding, available: () => void): Subject => ({
  available: async () => {
    available()
    return undefined
  },
  open: (directory, workload) =>
    openSession(
      binding,
      directory,
      workload.kind === "unsynced" || workload.kind === "unsyncedBatch" || workload.kind === "scan",
    ),
  readAll: async (directory, visit) => {
    const db = binding.open(join(directory, FILE_NAME), true)
    try {
      for (const payload of db.payloads()) visit(payload)
    } finally {
      db.close()
    }
  },
})

/**
 * @since 0.1.0
 */
export const subjects = {
  "node-sqlite": makeSubject(nodeSqlite, () => process.getBuiltinModule("node:sqlite").DatabaseSync),
  "better-sqlite3": makeSubject(betterSqlite3, loadBetterSqlite),
} satisfies Record<string, Subject>
