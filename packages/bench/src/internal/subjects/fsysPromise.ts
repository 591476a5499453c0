/**
 * `fsys-promise`: our journal through its Promise API (`@fsys/core/promise`), as code that does
 * not use Effect writes it — `await journal.appendDurable(payload)` per durable record (one
 * Promise each: the record is placed synchronously and waits on its round through a callback),
 * `appendBatch` + `syncThrough` per batch, and unsynced records through `tryAppend`, falling back to
 * `await append` when it answers `undefined`. Same engine and the same options as
 * `fsys-direct-io_uring` (Direct mode over io_uring), so the two rows differ only in the API.
 * `fsys-promise-dsync` is the same with `syncMethod: "dsync"` (the pair of `fsys-direct-dsync`).
 *
 * @since 0.1.0
 */
import { join } from "node:path"
import { InvalidOptions, openJournal } from "@fsys/core/promise"
import type { Session, Subject } from "../driver.ts"
import { SubjectUnavailable } from "../driver.ts"
import { FILE_NAME, readAll } from "./fsys.ts"

type SyncMethod = "fdatasync" | "dsync"

const openSession = async (directory: string, syncMethod: SyncMethod): Promise<Session> => {
  const options = { mode: "direct", backend: "io_uring", syncMethod } as const
  const journal = await openJournal(join(directory, FILE_NAME), options).catch((error: unknown) => {
    // A backend this build or kernel cannot give is "cannot run here", not a failure.
    throw error instanceof InvalidOptions && error.option === "backend" ? new SubjectUnavailable(error.reason) : error
  })
  const info = journal.info()
  if (info.backend !== "io_uring" || !info.directActive || info.syncMethod !== syncMethod) {
    await journal.close()
    throw new SubjectUnavailable(
      `journal chose ${info.backend}${info.directActive ? "" : " without O_DIRECT"}, rounds by ${info.syncMethod}: ${info.reason}`,
    )
  }
  return {
    detail: `Promise API, ${info.mode} (O_DIRECT) over ${info.backend}, ${info.logBufferBytes / 1024} KiB slots, rounds by ${info.syncMethod}`,
    // The journal's own Promises, not ones wrapped in another (an async wrapper costs a Promise
    // and a microtask per record that an application awaiting the journal does not pay: at
    // 64 × 100 B on tmpfs it was ≈ 2 µs of CPU per record here).
    appendDurable: (payload) => journal.appendDurable(payload) as Promise<unknown> as Promise<void>,
    appendBatchDurable: async (payloads) => journal.syncThrough(await journal.appendBatch(payloads)),
    // An unsynced producer's hot loop: placed without a Promise when nothing has to wait, else
    // `append`, which waits and lets the event loop turn (`tryAppend`'s contract).
    append: (payload) =>
      journal.tryAppend(payload) === undefined
        ? (journal.append(payload) as Promise<unknown> as Promise<void>)
        : undefined,
    appendBatch: (payloads) => journal.appendBatch(payloads) as Promise<unknown> as Promise<void>,
    sync: async () => {
      await journal.sync()
    },
    close: () => journal.close(),
  }
}

const makeSubject = (syncMethod: SyncMethod): Subject => ({
  available: async () => undefined,
  open: (directory) => openSession(directory, syncMethod),
  readAll,
})

/**
 * @since 0.1.0
 */
export const subject: Subject = makeSubject("fdatasync")

/**
 * `fsys-promise-dsync`: the Promise API with rounds made durable by RWF_DSYNC writes.
 *
 * @since 0.1.0
 */
export const subjectDsync: Subject = makeSubject("dsync")
