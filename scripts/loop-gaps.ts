/**
 * What holds the event loop during unsynced appends (issue 12's loop-p99 target): a 1 ms timer
 * runs beside a Promise-API loop of `append` (a fresh payload per record, as the bench's source
 * makes them), and every timer that fires more than 2 ms late is printed with the V8 collections
 * that overlapped it. Lates without a collection are the journal's own turns (the append budget,
 * a slot's seal); lates with one are the garbage collector's.
 *
 * Run: `npx pnpm@12.4.2 exec node scripts/loop-gaps.ts [payloadBytes=100] [seconds=3] [direct|buffered]`
 * (`--trace-gc` in front of the script shows each collection's kind and pause).
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { constants, PerformanceObserver } from "node:perf_hooks"
import { openJournal } from "@fsys/core/promise"

const payloadBytes = Number(process.argv[2] ?? 100)
const seconds = Number(process.argv[3] ?? 3)
const mode = (process.argv[4] ?? "direct") as "direct" | "buffered"
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

const startMillis = performance.now()
const endMillis = startMillis + seconds * 1000
let appended = 0
while (performance.now() < endMillis) {
  for (let i = 0; i < 64; i++) {
    const payload = new Uint8Array(payloadBytes)
    payload.fill(appended & 0xff)
    await journal.append(payload)
    appended++
  }
}
clearTimeout(timer)
observer.disconnect()
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
  `${appended} appends of ${payloadBytes} B in ${seconds} s (${mode}); ${lates.length} timers over ${LATE_MILLIS} ms late ` +
    `(${afterFirstSecond} after the first second), ${withGc} of them during a collection`,
)
for (const { dueMillis: at, lateMillis } of lates.slice(0, PRINTED_MAX)) {
  const overlapping = collections.filter(
    (gc) => gc.startMillis + gc.durationMillis >= at - 1 && gc.startMillis <= at + lateMillis,
  )
  const gcs = overlapping.map((gc) => `${kindName(gc.kind)} ${gc.durationMillis.toFixed(1)} ms`).join(", ")
  console.log(`  at ${at.toFixed(0)} ms: ${lateMillis.toFixed(1)} ms late${gcs === "" ? "" : ` (${gcs})`}`)
}
