/**
 * Recovery-scan speed: `JournalReader.scan` (and the `records` stream) over a 256 MiB journal,
 * against a baseline measured in the same run — reading the same file through the same FileIo
 * layer in the same 4 MiB chunks without looking at the bytes. The ratio says what framing and
 * CRC checking cost on top of the IO itself.
 *
 * The file is written once per record size and read from the page cache (a warm scan, which is
 * what `JournalReader.scan` sees after a process crash). `Journal.open` reads the media through
 * O_DIRECT (recovery never trusts the page cache), so its baseline is the same file read through
 * O_DIRECT in the same chunks. Run: `node scripts/scan-bench.ts [MiB]`.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Effect, Stream } from "effect"
import { FileIo, Frame, Journal, JournalReader, NodeFileIo } from "@fsys/core"

const FILE_MIB = Number(process.argv[2] ?? 256)
const RECORD_BYTES = [100, 4096, 65536] as const
/** Best of this many runs per measurement. */
const ROUNDS = 3
const CHUNK_BYTES = 4 * 1024 * 1024

/** Writes frames of `payloadBytes` until the file reaches `fileBytes`; returns the record count. */
const writeJournal = (path: string, payloadBytes: number, fileBytes: number): number => {
  const payload = Uint8Array.from({ length: payloadBytes }, (_, i) => (i * 7 + 1) & 0xff)
  const frameBytes = Frame.frameBytes(payloadBytes)
  const framesPerChunk = Math.floor(CHUNK_BYTES / frameBytes)
  const chunk = new Uint8Array(framesPerChunk * frameBytes)
  for (let i = 0; i < framesPerChunk; i++) Frame.encodeInto(chunk, i * frameBytes, payload)
  const chunks = Math.ceil(fileBytes / chunk.length)
  const fd = NodeFs.openSync(path, "w")
  for (let i = 0; i < chunks; i++) NodeFs.writeSync(fd, chunk)
  NodeFs.closeSync(fd)
  return chunks * framesPerChunk
}

const rawRead = (path: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const io = yield* FileIo.FileIo
      const handle = yield* io.open(path, { readOnly: true })
      const buffer = new Uint8Array(CHUNK_BYTES)
      let offset = 0
      for (;;) {
        const read = yield* io.readAt(handle, buffer, offset)
        if (read === 0) return offset
        offset += read
      }
    }),
  )

/** The same chunks through O_DIRECT into aligned memory: what recovery's media reads can reach. */
const rawDirectRead = (path: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const io = yield* FileIo.FileIo
      const handle = yield* io.open(path, { readOnly: true, direct: true })
      const buffer = yield* io.allocateAligned(CHUNK_BYTES, 4096)
      let offset = 0
      for (;;) {
        const read = yield* io.readAt(handle, buffer.bytes, offset)
        offset += read
        if (read < CHUNK_BYTES) return offset
      }
    }),
  )

/** `Journal.open` resuming the file: recovery's scan through O_DIRECT media reads, then one fdatasync. */
const recover = (path: string) =>
  Effect.scoped(
    Effect.flatMap(Journal.open(path, { mode: "buffered", preallocateBytes: 0 }), (journal) => journal.nextLsn),
  )

const time = <A>(effect: Effect.Effect<A, unknown>) =>
  Effect.gen(function* () {
    let best = Number.POSITIVE_INFINITY
    let value: A | undefined
    for (let round = 0; round < ROUNDS; round++) {
      const start = process.hrtime.bigint()
      value = yield* effect
      best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9)
    }
    return { seconds: best, value: value as A }
  })

const program = Effect.gen(function* () {
  const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-scan-bench-"))
  const rows: Array<string> = []
  try {
    for (const payloadBytes of RECORD_BYTES) {
      const path = NodePath.join(directory, `journal-${payloadBytes}`)
      const records = writeJournal(path, payloadBytes, FILE_MIB * 1024 * 1024)
      const fileBytes = NodeFs.statSync(path).size
      const raw = yield* time(rawRead(path))
      const scan = yield* time(JournalReader.scan(path))
      if (scan.value.records !== records || scan.value.tailState !== "CleanEnd") throw new Error("scan disagrees")
      const stream = yield* time(Stream.runCount(JournalReader.records(path)))
      if (stream.value !== records) throw new Error("records disagrees")
      const rawDirect = yield* time(rawDirectRead(path))
      const opened = yield* time(recover(path))
      if (opened.value !== fileBytes) throw new Error("Journal.open resumed elsewhere")
      const mbps = (seconds: number) => (fileBytes / seconds / 1e6).toFixed(0)
      rows.push(
        `| ${payloadBytes} B | ${records} | ${mbps(raw.seconds)} | ${mbps(scan.seconds)} (${(raw.seconds / scan.seconds).toFixed(2)}×) | ${mbps(stream.seconds)} (${(raw.seconds / stream.seconds).toFixed(2)}×) | ${((scan.seconds / records) * 1e9).toFixed(0)} | ${mbps(rawDirect.seconds)} | ${mbps(opened.seconds)} (${(rawDirect.seconds / opened.seconds).toFixed(2)}×) |`,
      )
      NodeFs.rmSync(path)
    }
  } finally {
    NodeFs.rmSync(directory, { recursive: true, force: true })
  }
  console.log(`${FILE_MIB} MiB journal, warm page cache, best of ${ROUNDS}; MB/s = 10^6 bytes/s\n`)
  console.log(
    "| payload | records | raw read MB/s (baseline) | scan MB/s (vs raw) | records stream MB/s (vs raw) | scan ns/record | raw O_DIRECT read MB/s | Journal.open MB/s (vs O_DIRECT) |",
  )
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
  for (const row of rows) console.log(row)
})

Effect.runPromise(program.pipe(Effect.provide(NodeFileIo.layer)))
