/**
 * Why the log buffer's rotation state is plain synchronous state, not a TxRef or a Semaphore:
 * the cost of one LSN reservation (the state transition every append makes) under 64
 * concurrent fibers, three ways, in the same run:
 *
 * - plain: read and bump a number inside one synchronous step (what `internal/logBuffer/core.ts`
 *   does: JavaScript runs one fiber at a time, so a step with no yield is already atomic);
 * - TxRef: the same transition as an `Effect.tx` over a `TxRef`;
 * - Semaphore: the same transition under `Semaphore.withPermit`.
 *
 * Run: `node scripts/logbuffer-state-bench.ts` (Node 24). Prints ns per reservation and ratios.
 */
import { Effect, Semaphore, TxRef } from "effect"

const FIBERS = 64
const PER_FIBER = 20_000
const FRAME_BYTES = 112

const time = async (name: string, program: Effect.Effect<number>): Promise<number> => {
  await Effect.runPromise(program) // warm-up
  const started = performance.now()
  const end = await Effect.runPromise(program)
  const nanos = ((performance.now() - started) * 1e6) / (FIBERS * PER_FIBER)
  if (end !== FIBERS * PER_FIBER * FRAME_BYTES)
    throw new Error(`${name}: reserved ${end}, expected ${FIBERS * PER_FIBER * FRAME_BYTES}`)
  return nanos
}

const run = (reserve: Effect.Effect<number>, read: Effect.Effect<number>) =>
  Effect.gen(function* () {
    yield* Effect.forEach(
      Array.from({ length: FIBERS }),
      () =>
        Effect.gen(function* () {
          for (let i = 0; i < PER_FIBER; i++) yield* reserve
        }),
      { concurrency: "unbounded", discard: true },
    )
    return yield* read
  })

const plain = Effect.suspend(() => {
  let next = 0
  const reserve = Effect.sync(() => (next += FRAME_BYTES))
  return run(
    reserve,
    Effect.sync(() => next),
  )
})

const transactional = Effect.gen(function* () {
  const next = yield* TxRef.make(0)
  const reserve = Effect.tx(TxRef.modify(next, (lsn) => [lsn + FRAME_BYTES, lsn + FRAME_BYTES]))
  return yield* run(reserve, TxRef.get(next))
})

const semaphore = Effect.gen(function* () {
  const lock = yield* Semaphore.make(1)
  let next = 0
  const reserve = lock.withPermit(Effect.sync(() => (next += FRAME_BYTES)))
  return yield* run(
    reserve,
    Effect.sync(() => next),
  )
})

const results = [
  ["plain synchronous step", await time("plain", plain)],
  ["TxRef + Effect.tx", await time("TxRef", transactional)],
  ["Semaphore.withPermit", await time("Semaphore", semaphore)],
] as const
const baseline = results[0][1]
for (const [name, nanos] of results) {
  console.log(
    `${name.padEnd(24)} ${nanos.toFixed(0).padStart(6)} ns/reservation  ${(nanos / baseline).toFixed(2)}x plain`,
  )
}
