/**
 * One randomized crash run of the real journal on a simulated disk (see `CrashHarness.runSeed`).
 *
 * A run is a sequence of **epochs**. Each epoch:
 * 1. optionally arms a power loss inside recovery (at the nth write/truncate/sync of the open),
 *    and retries the open on the rebooted disk until it succeeds (bounded);
 * 2. checks what the open recovered against the model (`checkRecovery`) and the resume rules
 *    (nextLsn, syncedLsn, sidecar) against an independent decode of the crash image;
 * 3. runs 1..writersMax concurrent writer fibers, each a random sequence of append, appendBatch,
 *    syncThrough, sync and yields, recording what was submitted, what returned which LSN and
 *    which LSN was acknowledged durable;
 * 4. ends the epoch in one of four ways — power loss at the nth write or datasync, power loss
 *    after a random number of scheduler turns, power loss once the writers are done, or a clean
 *    close (everything appended must then survive) followed by a power loss — with, in some
 *    epochs, random EIO / ENOSPC / short writes / IO reordering armed;
 * 5. abandons the crashed journal (interrupts its fibers, closes its scope).
 * After the last epoch a final reopen is checked and closed cleanly.
 *
 * Every random choice comes from the seed (the writers' scheduling too: no timers run unless a
 * journal option asks for them), so a failing seed replays exactly. The phases live in their own
 * files: `run.ts` (the run's state), `open.ts` (1–2), `writer.ts` (3), `epoch.ts` (3–5) and
 * `sameBoot.ts` (the same-boot reopen ending).
 *
 * @since 0.1.0
 */
import { Effect, Exit, Option, Scope } from "effect"
import type * as CrashHarness from "../../CrashHarness.ts"
import * as Generators from "../../Generators.ts"
import { runEpoch } from "./epoch.ts"
import { type Opened, openAndCheck } from "./open.ts"
import { fail, makeRun, type Run } from "./run.ts"

/** The final reopen: it must also accept appends and close cleanly. */
const finalEpoch = Effect.fnUntraced(function* (run: Run, epoch: number, opened: Opened) {
  run.model = {
    epoch,
    base: opened.records,
    startLsn: opened.cleanEnd,
    acked: new Map(),
    submitted: new Map(),
    durableLsn: opened.syncedLsn,
  }
  const probe = Generators.record({ epoch, writer: 0, sequence: 0 }, 64)
  run.model.submitted.set(Generators.recordKey({ epoch, writer: 0, sequence: 0 }), probe)
  const closed = yield* Effect.exit(
    Effect.andThen(opened.handle.append(probe), opened.handle.close).pipe(Effect.timeoutOption(run.timeout)),
  )
  if (Exit.isFailure(closed) || Option.isNone(closed.value))
    fail(run, epoch, `final append + close failed: ${Exit.isFailure(closed) ? String(closed.cause) : "hung"}`)
  yield* Scope.close(opened.scope, Exit.void)
})

export const runSeedWith = (options: CrashHarness.SeedOptions): Effect.Effect<CrashHarness.SeedResult> =>
  Effect.gen(function* () {
    const run = yield* makeRun(options)
    const { epochs } = run
    for (let epoch = 1; epoch <= epochs + 1 && run.failures.length === 0; epoch++) {
      const opened = yield* openAndCheck(run, epoch, epoch > 1 && run.rng.chance(0.25))
      if (opened === undefined) break
      if (epoch === epochs + 1) {
        yield* finalEpoch(run, epoch, opened)
        break
      }
      yield* runEpoch(run, epoch, opened)
    }
    const violations = yield* run.disk.violations
    for (const violation of violations) fail(run, epochs, `disk rule: ${violation}`)
    return {
      seed: run.seed,
      mode: run.mode,
      failures: run.failures,
      epochs,
      appended: run.appended,
      recovered: run.lastRecovered,
      crashes: run.crashes,
      fingerprint: run.trace.join("\n"),
    }
  })
