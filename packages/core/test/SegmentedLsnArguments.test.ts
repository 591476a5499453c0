/**
 * Every LSN argument of a segmented journal (read, records({ from }), truncateFront,
 * truncateBack, checkpoint), given any LSN — record boundaries, offsets inside records, below
 * `firstLsn`, at and past `nextLsn`, negative, fractional — either succeeds as specified or fails
 * with a typed error and leaves the directory byte for byte as it was.
 *
 * The directory is compared as a whole (every file's name and bytes) after a sync, so a refused
 * call that wrote a checkpoint, cut a segment or deleted one is caught whatever it touched.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import { Frame, SegmentedJournal } from "@fsys/core"
import { payloadFor, tempDir } from "./journalFixtures.ts"
import { seededRandom } from "./seeded.ts"

/** Calls per sequence and sequences per mode: about 2 s per mode on this machine. */
const CALLS = 120
const SEQUENCES = 3
const TYPED = new Set(["NoRecordAt", "LsnOutOfRange", "InvalidOptions"])

/** Every file of the directory, name → bytes (hex), sorted: what "nothing changed" compares. */
const snapshot = (dir: string): Record<string, string> =>
  Object.fromEntries(
    NodeFs.readdirSync(dir)
      .sort()
      .map((name) => [name, NodeFs.readFileSync(NodePath.join(dir, name)).toString("hex")]),
  )

const failureTag = <A, E>(exit: Exit.Exit<A, E>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  return failure?._tag === "Fail" ? ((failure.error as { _tag?: string })._tag ?? "untagged") : "defect"
}

type Operation = "read" | "records" | "truncateFront" | "truncateBack" | "checkpoint"
const OPERATIONS: ReadonlyArray<Operation> = ["read", "records", "truncateFront", "truncateBack", "checkpoint"]

describe.each(["buffered", "direct"] as const)("SegmentedJournal LSN arguments (%s)", (mode) => {
  const options = { mode, logBufferBytes: 4096, sectorBytes: 512, segmentBytes: 8192, preallocateBytes: 0 } as const

  it.live(`${SEQUENCES} × ${CALLS} random LSNs: each call succeeds as specified or fails typed, changing nothing`, () =>
    Effect.gen(function* () {
      for (let seed = 1; seed <= SEQUENCES; seed++) {
        const rng = seededRandom(seed * 7919 + (mode === "direct" ? 1 : 0))
        const dir = NodePath.join(yield* tempDir, `j${seed}`)
        const journal = yield* SegmentedJournal.open(dir, options)
        /** The model: record start → payload; `ends` the frame ends. */
        const payloads = new Map<number, Uint8Array>()
        let sequence = 0
        const appendSome = Effect.gen(function* () {
          for (let i = 0; i < 10 + rng.int(40); i++) {
            const payload = payloadFor(seed, sequence++, 20 + rng.int(400))
            const end = yield* journal.append(payload)
            payloads.set(end - Frame.frameBytes(payload.length), payload)
          }
          yield* journal.sync
        })
        yield* appendSome
        for (let call = 0; call < CALLS; call++) {
          if (rng.float() < 0.15) yield* appendSome
          const first = yield* journal.firstLsn
          const next = yield* journal.nextLsn
          const starts = [...payloads.keys()].filter((lsn) => lsn >= first).sort((a, b) => a - b)
          const checkpointLsn = (yield* journal.lastCheckpoint)?.lsn ?? 0
          const draw = rng.float()
          const lsn =
            draw < 0.35 && starts.length > 0
              ? starts[rng.int(starts.length)]!
              : draw < 0.55 && starts.length > 0
                ? starts[rng.int(starts.length)]! + 1 + rng.int(11)
                : draw < 0.65
                  ? next
                  : draw < 0.72
                    ? next + 1 + rng.int(5000)
                    : draw < 0.8
                      ? rng.int(first + 1)
                      : draw < 0.85
                        ? [-1, 0.5, Number.NaN, 2 ** 60][rng.int(4)]!
                        : rng.int(next + 1)
          const operation = OPERATIONS[rng.int(OPERATIONS.length)]!
          const context = `seed ${seed} call ${call}: ${operation}(${lsn}) first ${first} next ${next}`
          const isStart = payloads.has(lsn) && lsn >= first && lsn < next
          // A rotation finishes in its own fiber, holding the directory lock (and creates the next
          // standby): a no-op truncateFront waits for it, so the snapshot is of a quiet directory.
          yield* journal.truncateFront(0)
          const before = snapshot(dir)
          const invoked: Effect.Effect<unknown, SegmentedJournal.SegmentedJournalError> =
            operation === "read"
              ? journal.read(lsn)
              : operation === "records"
                ? Stream.runCollect(journal.records({ from: lsn }))
                : operation === "truncateFront"
                  ? journal.truncateFront(lsn)
                  : operation === "truncateBack"
                    ? journal.truncateBack(lsn)
                    : journal.checkpoint(lsn, new Uint8Array([call & 0xff]))
          const exit = yield* Effect.exit(invoked)
          // What the contract lets each call do with this LSN.
          const boundary = isStart || (Number.isSafeInteger(lsn) && lsn === next)
          const allowed =
            operation === "read"
              ? isStart
              : operation === "records"
                ? boundary
                : operation === "truncateFront"
                  ? Number.isSafeInteger(lsn) && lsn >= 0 && lsn <= next
                  : operation === "truncateBack"
                    ? boundary && lsn >= checkpointLsn
                    : boundary
          if (Exit.isFailure(exit)) {
            const tag = failureTag(exit)
            assert.isTrue(TYPED.has(tag ?? ""), `${context}: failed with ${tag}: ${String(exit.cause)}`)
            assert.isFalse(allowed, `${context}: refused (${tag}) a call the contract allows`)
            assert.deepStrictEqual(
              Object.keys(snapshot(dir)),
              Object.keys(before),
              `${context}: a refused call changed the directory's names`,
            )
            assert.deepStrictEqual(snapshot(dir), before, `${context}: a refused call changed the directory`)
            assert.strictEqual(yield* journal.nextLsn, next, `${context}: nextLsn moved`)
            assert.strictEqual(yield* journal.firstLsn, first, `${context}: firstLsn moved`)
            continue
          }
          assert.isTrue(allowed, `${context}: accepted an LSN the contract refuses`)
          if (operation === "read") {
            assert.deepStrictEqual(exit.value as Uint8Array, payloads.get(lsn), context)
          } else if (operation === "records") {
            const got = exit.value as ReadonlyArray<SegmentedJournal.SegmentedRecord>
            const expected = starts.filter((start) => start >= lsn)
            assert.deepStrictEqual(
              got.map((record) => record.lsn),
              expected,
              context,
            )
          } else if (operation === "truncateFront") {
            const firstNow = yield* journal.firstLsn
            assert.isAtMost(firstNow, Math.max(first, lsn), context)
            // Every record at or after the LSN is still readable.
            for (const start of starts.filter((start) => start >= lsn).slice(0, 3)) {
              assert.deepStrictEqual(yield* journal.read(start), payloads.get(start), context)
            }
          } else if (operation === "truncateBack") {
            assert.strictEqual(yield* journal.nextLsn, lsn, context)
            for (const start of [...payloads.keys()]) if (start >= lsn) payloads.delete(start)
          } else {
            assert.strictEqual((yield* journal.lastCheckpoint)?.lsn, lsn, context)
          }
        }
        yield* journal.close
        // The directory reopens as it was left, and its checkpoint is one the journal accepted.
        const reopened = yield* SegmentedJournal.open(dir, options)
        const saved = yield* reopened.lastCheckpoint
        const nextLsn = yield* reopened.nextLsn
        assert.isTrue(saved === undefined || saved.lsn === nextLsn || payloads.has(saved.lsn), `seed ${seed}`)
        yield* reopened.close
      }
    }).pipe(Effect.scoped),
  )
})
