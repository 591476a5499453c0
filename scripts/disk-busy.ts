/**
 * How busy the journal keeps the disk: runs a command (by default `scripts/large-records.ts`,
 * Direct over io_uring) under `perf record` with the io_uring submit and complete tracepoints,
 * pairs each large WRITE's submission with its completion, and prints the gaps between one write's
 * completion and the next one's submission, and the share of the wall clock a write was in the
 * kernel. With one Direct slot write in flight at a time, every gap is the disk sitting idle
 * while JavaScript runs ("The two slots as a pipeline", docs/ARCHITECTURE.md).
 *
 * Only the streaming phase counts: it ends at the first gap longer than `STREAM_GAP_MAX_MILLIS`
 * (the final sync and the drain at close), and writes in flight together (preallocation zeros)
 * are left out. Needs `perf` and the right to trace (root, or perf_event_paranoid ≤ -1).
 *
 * Run: `node_modules/.bin/node scripts/disk-busy.ts [command args…]`
 */
import * as ChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

/** Writes smaller than this are not slot writes of large records (headers, carries, zeros are 1 MiB). */
const WRITE_BYTES_MIN = 1024 * 1024 + 1
const STREAM_GAP_MAX_MILLIS = 100

const command = process.argv.length > 2 ? process.argv.slice(2) : ["scripts/large-records.ts", "direct", "io_uring"]
const data = NodePath.join(NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-perf-")), "perf.data")
const record = ChildProcess.spawnSync(
  "perf",
  [
    "record",
    "-q",
    "-e",
    "io_uring:io_uring_submit_req",
    "-e",
    "io_uring:io_uring_complete",
    "-o",
    data,
    "--",
    process.execPath,
    ...command,
  ],
  { stdio: ["ignore", "inherit", "inherit"] },
)
if (record.status !== 0) throw new Error(`perf record failed (${record.status}): is perf installed and allowed?`)
const script = ChildProcess.spawnSync("perf", ["script", "-i", data], { encoding: "utf8", maxBuffer: 1 << 30 })
NodeFs.rmSync(NodePath.dirname(data), { recursive: true, force: true })

const submitted = new Map<string, number>()
const writes: Array<{ readonly startSeconds: number; readonly endSeconds: number }> = []
const submitLine = /\s(\d+\.\d+): io_uring:io_uring_submit_req: .*req (0x[0-9a-f]+), .*opcode (\w+)/
const completeLine = /\s(\d+\.\d+):\s+io_uring:io_uring_complete: .*req (0x[0-9a-f]+), .*result (-?\d+)/
for (const line of script.stdout.split("\n")) {
  const submit = submitLine.exec(line)
  if (submit !== null && (submit[3] === "WRITE" || submit[3] === "WRITE_FIXED")) {
    submitted.set(submit[2]!, Number(submit[1]))
    continue
  }
  const complete = completeLine.exec(line)
  if (complete === null) continue
  const start = submitted.get(complete[2]!)
  if (start === undefined) continue
  submitted.delete(complete[2]!)
  if (Number(complete[3]) >= WRITE_BYTES_MIN) writes.push({ startSeconds: start, endSeconds: Number(complete[1]) })
}
writes.sort((a, b) => a.startSeconds - b.startSeconds)
const gapsMillis: Array<number> = []
let busySeconds = writes.length > 0 ? writes[0]!.endSeconds - writes[0]!.startSeconds : 0
let streamed = 1
for (; streamed < writes.length; streamed++) {
  const gapMillis = (writes[streamed]!.startSeconds - writes[streamed - 1]!.endSeconds) * 1000
  if (gapMillis > STREAM_GAP_MAX_MILLIS || gapMillis < 0) break
  gapsMillis.push(gapMillis)
  busySeconds += writes[streamed]!.endSeconds - writes[streamed]!.startSeconds
}
if (gapsMillis.length === 0) throw new Error(`no stream of large writes traced (${writes.length} writes)`)
const wallSeconds = writes[streamed - 1]!.endSeconds - writes[0]!.startSeconds
const sorted = [...gapsMillis].sort((a, b) => a - b)
const at = (share: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))]!.toFixed(3)
console.log(
  `${streamed} writes of ≥ 1 MiB streamed: gap between writes median ${at(0.5)} ms, p90 ${at(0.9)} ms; ` +
    `a write in the kernel ${((100 * busySeconds) / wallSeconds).toFixed(0)} % of ${wallSeconds.toFixed(3)} s`,
)
