/**
 * What holds the event loop during appends (issue 12's loop-p99 target): a 1 ms timer runs
 * beside a Promise-API loop of `append` (a fresh payload per record, as the bench's source makes
 * them), or beside `producers` concurrent producers each awaiting its own `appendDurable` (the
 * bench's durable workloads), and every timer that fires more than 2 ms late is printed with the
 * V8 collections that overlapped it. Lates without a collection are the journal's own turns (the
 * append budget, a slot's seal, a round's wake); lates with one are the garbage collector's.
 *
 * Run: `npx pnpm@12.4.2 exec node scripts/loop-gaps.ts [payloadBytes=100] [seconds=3] [direct|buffered] [producers=0] [fresh|reused]`
 * (`--trace-gc` in front of the script shows each collection's kind and pause).
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { PerformanceObserver } from "node:perf_hooks"
import { openJournal } from "@fsys/core/promise"

const payloadBytes = Number(process.argv[2] ?? 100)
const seconds = Number(process.argv[3] ?? 3)
const mode = (process.argv[4] ?? "direct") as "direct" | "buffered"
/** 0: one unsynced appender; N: N producers, each awaiting its record's durability. */
const producers = Number(process.argv[5] ?? 0)
/**
 * `fresh`: a new payload per record (what a producer that allocates pays for, in the collector);
 * `reused`: one payload per producer, refilled per record (what the journal alone costs: it copies
 * the bytes before `append` resolves, so a payload may be reused as soon as it does).
 */
const payloads = (process.argv[6] ?? "fresh") as "fresh" | "reused"
/** A timer this late is reported. */
const LATE_MILLIS = 2
/** At most this many lates are printed. */
const PRINTED_MAX = 40

const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-loop-gaps-"))
const journal = await openJournal(NodePath.join(directory, "j.log"), { mode })
const collections: Array<{ readonly startMillis: number; readonly durationMillis: number; readonly kind: number }> = []
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

/** The main thread's scheduler account (Linux): ns on a CPU, ns runnable but waiting for one. */
const schedstat = (): { readonly runNs: number; readonly waitNs: number } | undefined => {
  try {
    const [run, wait] = NodeFs.readFileSync("/proc/thread-self/schedstat", "utf8").trim().split(" ").map(Number)
    return run === undefined || wait === undefined ? undefined : { runNs: run, waitNs: wait }
  } catch {
    return undefined
  }
}
const schedAtStart = schedstat()
const startMillis = performance.now()
const endMillis = startMillis + seconds * 1000
let appended = 0
const nextPayload = (reused: Uint8Array | undefined): Uint8Array =>
  (reused ?? new Uint8Array(payloadBytes)).fill(appended++ & 0xff)
const ownPayload = (): Uint8Array | undefined => (payloads === "reused" ? new Uint8Array(payloadBytes) : undefined)
if (producers === 0) {
  const own = ownPayload()
  while (performance.now() < endMillis) {
    for (let i = 0; i < 64; i++) await journal.append(nextPayload(own))
  }
} else {
  const producer = async (): Promise<void> => {
    const own = ownPayload()
    while (performance.now() < endMillis) await journal.appendDurable(nextPayload(own))
  }
  await Promise.all(Array.from({ length: producers }, producer))
}
clearTimeout(timer)
observer.disconnect()
const schedAtEnd = schedstat()
await journal.sync()
await journal.close()
NodeFs.rmSync(directory, { recursive: true, force: true })

// V8's kinds: 1 minor (scavenge), 2 major (mark-compact), 4 incremental, 8 weak callbacks.
const kindName = (kind: number): string =>
  ({ 1: "minor", 2: "major", 4: "incremental", 8: "weak" })[kind] ?? `kind ${kind}`
const withGc = lates.filter(({ dueMillis: at, lateMillis }) =>
  collections.some((gc) => gc.startMillis + gc.durationMillis >= at - 1 && gc.startMillis <= at + lateMillis),
).length
const afterFirstSecond = lates.filter(({ dueMillis: at }) => at > startMillis + 1000).length
console.log(
  `${appended} ${producers === 0 ? "unsynced" : `durable (${producers} producers)`} appends of ${payloadBytes} B ` +
    `in ${seconds} s (${mode}, ${payloads} payloads); ${lates.length} timers over ${LATE_MILLIS} ms late ` +
    `(${afterFirstSecond} after the first second), ${withGc} of them during a collection`,
)
if (schedAtStart !== undefined && schedAtEnd !== undefined) {
  // Time the main thread was runnable but off the CPU (preempted by other threads, ours or not).
  const waitedMillis = (schedAtEnd.waitNs - schedAtStart.waitNs) / 1e6
  const ranMillis = (schedAtEnd.runNs - schedAtStart.runNs) / 1e6
  const lateMillis = lates.reduce((sum, late) => sum + late.lateMillis, 0)
  console.log(
    `main thread: ${ranMillis.toFixed(0)} ms on a CPU, ${waitedMillis.toFixed(0)} ms runnable but waiting for one; ` +
      `the lates add up to ${lateMillis.toFixed(0)} ms`,
  )
}
for (const { dueMillis: at, lateMillis } of lates.slice(0, PRINTED_MAX)) {
  const overlapping = collections.filter(
    (gc) => gc.startMillis + gc.durationMillis >= at - 1 && gc.startMillis <= at + lateMillis,
  )
  const gcs = overlapping.map((gc) => `${kindName(gc.kind)} ${gc.durationMillis.toFixed(1)} ms`).join(", ")
  console.log(`  at ${at.toFixed(0)} ms: ${lateMillis.toFixed(1)} ms late${gcs === "" ? "" : ` (${gcs})`}`)
}
