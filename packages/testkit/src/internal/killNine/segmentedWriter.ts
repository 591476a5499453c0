/**
 * The segmented journal writer child of the process-crash suites
 * (`KillNineHarness.SEGMENTED_WRITER_SCRIPT`, run by
 * packages/testkit/test/crash/SegmentedProcessCrash.test.ts): opens a SegmentedJournal with
 * small segments, appends self-describing records (epoch, sequence, filler derived from both),
 * syncs some, drops the head now and then, and logs with a synchronous write(2):
 *
 *   R <firstLsn> <nextLsn>   open returned
 *   D <lsn>                  [firstLsn, lsn) acknowledged durable
 *   T <lsn>                  truncateFront(lsn) called
 *   F <lsn>                  truncateFront(lsn) returned
 *
 *   node packages/testkit/src/internal/killNine/segmentedWriter.ts --dir /tmp/seg --log /tmp/seg.log --epoch 2 --mode direct
 *
 * @internal
 */
import * as NodeFs from "node:fs"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { SegmentedJournal } from "@fsys/core"

const { values } = parseArgs({
  options: {
    dir: { type: "string" },
    log: { type: "string" },
    epoch: { type: "string", default: "1" },
    mode: { type: "string", default: "buffered" },
    "records-max": { type: "string", default: "20000" },
  },
})
const directory = values.dir
const logPath = values.log
const epoch = Number(values.epoch)
const mode = values.mode
if (directory === undefined || logPath === undefined || (mode !== "direct" && mode !== "buffered")) {
  process.stderr.write("usage: segmentedWriter.ts --dir <d> --log <file> [--epoch n] [--mode direct|buffered]\n")
  process.exit(2)
}
const logFd = NodeFs.openSync(logPath, "a")
const line = (text: string) => NodeFs.writeSync(logFd, `${text}\n`)

/** 8 bytes of (epoch, sequence), then bytes a checker can recompute. */
export const recordFor = (recordEpoch: number, sequence: number): Uint8Array => {
  const bytes = new Uint8Array(16 + ((sequence * 131) % 700))
  const view = new DataView(bytes.buffer)
  view.setUint32(0, recordEpoch)
  view.setUint32(4, sequence)
  for (let i = 8; i < bytes.length; i++) bytes[i] = (recordEpoch * 7 + sequence * 13 + i) & 0xff
  return bytes
}

const program = Effect.gen(function* () {
  const journal = yield* SegmentedJournal.open(directory, {
    mode,
    logBufferBytes: 65536,
    segmentBytes: 65536,
    preallocateBytes: 0,
  })
  line(`R ${yield* journal.firstLsn} ${yield* journal.nextLsn}`)
  process.stdout.write("ready\n")
  const recordsMax = Number(values["records-max"])
  for (let sequence = 0; sequence < recordsMax; sequence++) {
    const end = yield* journal.append(recordFor(epoch, sequence))
    if (sequence % 7 === 6) {
      yield* journal.syncThrough(end)
      line(`D ${end}`)
    }
    if (sequence % 200 === 199) {
      const segments = yield* journal.segments
      const cut = segments[Math.floor(segments.length / 2)]?.baseLsn ?? 0
      line(`T ${cut}`)
      yield* journal.truncateFront(cut)
      line(`F ${cut}`)
    }
  }
  yield* journal.close
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`segmentedWriter: ${String(error)}\n`)
    process.exit(1)
  },
)
