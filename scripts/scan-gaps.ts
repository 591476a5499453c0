/**
 * What holds the event loop during a recovery scan (issue 12's loop-p99 target for the bench's
 * scan rows): a 1 ms timer runs beside `JournalReader.scan` of a journal of 4 KiB records, and
 * every timer that fires more than 1.5 ms late is printed with the V8 collections that overlapped
 * it and the main thread's time runnable-but-off-CPU. Passes alternate a warm file (in the page
 * cache, as after a process crash) and a cold one (dropped from the cache first, as after a
 * reboot, or as the bench's Direct variants read theirs: O_DIRECT writes leave nothing cached).
 * Cold passes need root (`/proc/sys/vm/drop_caches`); without it they are reported as skipped.
 *
 * Run: `node_modules/.bin/node scripts/scan-gaps.ts [MiB=256] [payloadBytes=4096] [passes=3]`
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { PerformanceObserver } from "node:perf_hooks"
import { Effect } from "effect"
import { Frame, JournalReader } from "@fsys/core"

const FILE_MIB = Number(process.argv[2] ?? 256)
const PAYLOAD_BYTES = Number(process.argv[3] ?? 4096)
const PASSES = Number(process.argv[4] ?? 3)
/** A timer this late is reported (the bench's p99 target is 2 ms). */
const LATE_MILLIS = 1.5
/** At most this many lates are printed per pass. */
const PRINTED_MAX = 12
const CHUNK_BYTES = 4 * 1024 * 1024

const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-scan-gaps-"))
const path = NodePath.join(directory, "scan.journal")

/** Writes whole chunks of frames until the file holds `FILE_MIB`; returns the record count. */
const writeJournal = (): number => {
  const payload = Uint8Array.from({ length: PAYLOAD_BYTES }, (_, i) => (i * 7 + 1) & 0xff)
  const frameBytes = Frame.frameBytes(PAYLOAD_BYTES)
  const framesPerChunk = Math.floor(CHUNK_BYTES / frameBytes)
  const chunk = new Uint8Array(framesPerChunk * frameBytes)
  for (let i = 0; i < framesPerChunk; i++) Frame.encodeInto(chunk, i * frameBytes, payload)
  const chunks = Math.ceil((FILE_MIB * 1024 * 1024) / chunk.length)
  const fd = NodeFs.openSync(path, "w")
  for (let i = 0; i < chunks; i++) NodeFs.writeSync(fd, chunk)
  NodeFs.fdatasyncSync(fd)
  NodeFs.closeSync(fd)
  return chunks * framesPerChunk
}

/** Drops clean pages from the page cache; false where this process may not. */
const dropCaches = (): boolean => {
  try {
    NodeFs.writeFileSync("/proc/sys/vm/drop_caches", "1")
    return true
  } catch {
    return false
  }
}

/** The main thread's scheduler account (Linux): ns on a CPU, ns runnable but waiting for one. */
const schedstat = (): { readonly runNs: number; readonly waitNs: number } => {
  try {
    const [run, wait] = NodeFs.readFileSync("/proc/thread-self/schedstat", "utf8").trim().split(" ").map(Number)
    return { runNs: run ?? 0, waitNs: wait ?? 0 }
  } catch {
    return { runNs: 0, waitNs: 0 }
  }
}

interface Collection {
  readonly startMillis: number
  readonly durationMillis: number
  readonly kind: number
}
// V8's kinds: 1 minor (scavenge), 2 major (mark-compact), 4 incremental, 8 weak callbacks.
const kindName = (kind: number): string =>
  ({ 1: "minor", 2: "major", 4: "incremental", 8: "weak" })[kind] ?? `kind ${kind}`

const scanPass = async (label: string, expected: number): Promise<void> => {
  const collections: Array<Collection> = []
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { readonly detail?: { readonly kind?: number } }).detail?.kind ?? 0
      collections.push({ startMillis: entry.startTime, durationMillis: entry.duration, kind })
    }
  })
  observer.observe({ entryTypes: ["gc"] })
  const lates: Array<{ readonly dueMillis: number; readonly lateMillis: number }> = []
  let dueMillis = performance.now() + 1
  let timer: NodeJS.Timeout
  const tick = (): void => {
    const now = performance.now()
    if (now - dueMillis > LATE_MILLIS) lates.push({ dueMillis, lateMillis: now - dueMillis })
    dueMillis = now + 1
    timer = setTimeout(tick, 1)
  }
  timer = setTimeout(tick, 1)
  const schedBefore = schedstat()
  const startMillis = performance.now()
  let records = 0
  let checksum = 0
  // What the bench's verifier does per record, roughly: look at the payload's bytes.
  await Effect.runPromise(
    JournalReader.scan(path, {
      onRecord: (_lsn, payload) => {
        records++
        checksum = (checksum + (payload[0] ?? 0) + (payload[payload.length - 1] ?? 0)) | 0
      },
    }),
  )
  const elapsedMillis = performance.now() - startMillis
  const schedAfter = schedstat()
  clearTimeout(timer)
  observer.disconnect()
  if (records !== expected) throw new Error(`scan read ${records} records, expected ${expected}`)
  const lateSum = lates.reduce((sum, late) => sum + late.lateMillis, 0)
  console.log(
    `${label}: ${((FILE_MIB * 1024 * 1024) / elapsedMillis / 1000).toFixed(0)} MB/s in ${elapsedMillis.toFixed(0)} ms; ` +
      `${lates.length} timers over ${LATE_MILLIS} ms late (sum ${lateSum.toFixed(1)} ms); main thread ` +
      `${((schedAfter.runNs - schedBefore.runNs) / 1e6).toFixed(0)} ms on a CPU, ` +
      `${((schedAfter.waitNs - schedBefore.waitNs) / 1e6).toFixed(1)} ms runnable but waiting for one (checksum ${checksum})`,
  )
  for (const { dueMillis: at, lateMillis } of lates.slice(0, PRINTED_MAX)) {
    const gcs = collections
      .filter((gc) => gc.startMillis + gc.durationMillis >= at - 1 && gc.startMillis <= at + lateMillis)
      .map((gc) => `${kindName(gc.kind)} ${gc.durationMillis.toFixed(1)} ms`)
      .join(", ")
    console.log(
      `  at ${(at - startMillis).toFixed(0)} ms: ${lateMillis.toFixed(1)} ms late${gcs === "" ? "" : ` (${gcs})`}`,
    )
  }
}

try {
  const expected = writeJournal()
  console.log(`${FILE_MIB} MiB journal of ${expected} records × ${PAYLOAD_BYTES} B at ${path}`)
  for (let pass = 1; pass <= PASSES; pass++) {
    await scanPass(`pass ${pass} warm`, expected)
    if (dropCaches()) await scanPass(`pass ${pass} cold`, expected)
    else console.log(`pass ${pass} cold: skipped (cannot write /proc/sys/vm/drop_caches)`)
  }
} finally {
  NodeFs.rmSync(directory, { recursive: true, force: true })
}
