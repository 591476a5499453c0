/**
 * What a journal handle is built on, assembled at open in this order: recovery of the file
 * (`openForAppend`), the log-buffer engine over it, the durable follower's frontier, and the
 * group-commit committer (forked once, in the journal's scope, so no interrupt can separate a
 * round from its server). `Journal.ts` adds the entry points on top.
 *
 * @since 0.1.0
 */
import { type Context, Effect, Scope } from "effect"
import * as FileIo from "../../FileIo.ts"
import { JournalClosed, type JournalError, JournalPoisoned } from "../../JournalError.ts"
import type { AppendError, LogBufferCore } from "../logBuffer/core.ts"
import * as LogBufferEngine from "../logBuffer/make.ts"
import { openForAppend, type Resumed } from "../recovery/resume.ts"
import { Mutations } from "../testing.ts"
import * as Follower from "./follower.ts"
import { GroupCommit } from "./groupCommit.ts"
import * as Metrics from "./metrics.ts"
import type * as JournalOptions from "./options.ts"
import type { Info } from "../../Journal.ts"

export interface Engine {
  /** The FileIo the caller provided: the durable follower reads through it, never the journal's own ring. */
  readonly ambientFileIo: FileIo.FileIoService
  readonly opened: Resumed
  readonly logBufferBytes: number
  /** Why this backend (and what the layer did with the slots), for `Journal.info`. */
  readonly reason: string
  readonly core: LogBufferCore
  readonly frontier: Follower.Frontier
  readonly counters: Metrics.Counters
  readonly groupCommit: GroupCommit<JournalError>
  readonly closedError: JournalClosed
  /** The buffer's refusal as the journal reports it: only an IoError poisons. */
  readonly poisoned: (cause: AppendError) => JournalError
}

/** Counters published as metrics once per round: the delta since the last round. */
const publisher = (counters: Metrics.Counters, metricsContext: Context.Context<never>) => {
  const published: Metrics.Counters = { appends: 0, appendedBytes: 0, syncRequests: 0, fdatasyncs: 0 }
  return (latencyMicros: number, waiters: number): void => {
    counters.fdatasyncs++
    const delta: Metrics.Counters = {
      appends: counters.appends - published.appends,
      appendedBytes: counters.appendedBytes - published.appendedBytes,
      syncRequests: counters.syncRequests - published.syncRequests,
      fdatasyncs: counters.fdatasyncs - published.fdatasyncs,
    }
    Object.assign(published, counters)
    Metrics.publishRoundUnsafe(metricsContext, delta, waiters, latencyMicros)
  }
}

/** The options that shape group-commit rounds. */
const rounds = (options: JournalOptions.Resolved) => ({
  windowMicros: options.windowMicros,
  maxBatch: options.maxBatch,
  overlap: options.overlapRounds,
})

export const open = Effect.fnUntraced(function* (
  path: string,
  options: JournalOptions.Resolved,
  scope: Scope.Closeable,
): Effect.fn.Return<Engine, JournalError, Scope.Scope> {
  const ambientFileIo = yield* FileIo.FileIo
  const opened = yield* openForAppend(path, {
    mode: options.mode,
    requireDirect: false,
    backend: options.backend,
    legacyGaps: options.legacyGaps,
    onReadError: options.onReadError,
    ...(options.sectorBytes === undefined ? {} : { sectorBytes: options.sectorBytes }),
  })
  // Read once, at open: a test-only mutation is a construction option, never a global switch.
  const mutations = yield* Mutations
  const logBufferBytes = Math.max(options.logBufferBytes, 2 * opened.sectorBytes)
  let reason = opened.reason
  const core = yield* LogBufferEngine.make({
    onRegistered: (registration) => {
      if (registration.reason !== "") reason = `${opened.reason}; ${registration.reason}`
    },
    handle: opened.handle,
    capacityBytes: logBufferBytes,
    sectorBytes: opened.sectorBytes,
    startLsn: opened.cleanEnd,
    carry: opened.carry,
    preallocateBytes: options.preallocateBytes,
    writebackBytes: options.writebackBytes,
    secondLane: options.overlapRounds !== "never",
    dsyncRounds: options.syncMethod === "dsync",
    dsyncBeforeDurable: mutations.dsyncBeforeDurable,
    fileSizeBytes: opened.fileSize,
  }).pipe(Effect.provideService(FileIo.FileIo, opened.fileIo))
  const poisoned = (cause: AppendError): JournalError =>
    cause._tag === "IoError" ? new JournalPoisoned({ path, cause }) : cause

  const frontier = new Follower.Frontier()
  yield* Scope.addFinalizer(
    scope,
    Effect.sync(() => frontier.end()),
  )
  const counters: Metrics.Counters = { appends: 0, appendedBytes: 0, syncRequests: 0, fdatasyncs: 0 }
  const publishRound = publisher(counters, yield* Effect.context<never>())
  const onRound = (latencyMicros: number, waiters: number): void => {
    frontier.advance()
    publishRound(latencyMicros, waiters)
  }
  const groupCommit = new GroupCommit<JournalError>(
    { core, publishFrontierEarly: mutations.publishFrontierEarly, toError: poisoned, onRound, ...rounds(options) },
    opened.cleanEnd,
  )
  // Forked once, here: a sync never forks, so no interrupt can separate a round from its server.
  yield* Effect.forkIn(groupCommit.committer, scope)
  const engine: Engine = {
    ambientFileIo,
    opened,
    logBufferBytes,
    reason,
    core,
    frontier,
    counters,
    groupCommit,
    closedError: new JournalClosed({ path }),
    poisoned,
  }
  return engine
})

/** What the journal really uses, and why (`Journal.Handle.info`). */
export const info = (engine: Engine, path: string, mode: "direct" | "buffered"): Info => ({
  path,
  mode,
  directActive: engine.opened.directActive,
  backend: engine.opened.fileIo.backend,
  sectorBytes: engine.opened.sectorBytes,
  sectorSize: engine.opened.sectorBytes,
  logBufferBytes: engine.logBufferBytes,
  reason: engine.reason,
  sidecarPath: engine.opened.sidecarPath,
  recoveredRecords: engine.opened.records,
  syncMethod: engine.core.dsyncRounds ? "dsync" : "fdatasync",
})
