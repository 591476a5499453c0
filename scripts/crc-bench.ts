/**
 * CRC-32C throughput: the pure-TypeScript tables vs the native `@node-rs/crc32` vs
 * `Crc32c.compute` (which picks one by size), on 100 B, 4 KiB and 1 MiB inputs, in one run.
 * Also prints the per-call cost around `Crc32c.nativeThresholdBytes`, which is how that constant
 * was chosen, and what framing a record costs (`Frame.encodeInto` / `Frame.decode`) against the
 * 1 µs-per-record budget of 1 M records/s.
 *
 * Run: `node scripts/crc-bench.ts` (Node 24 from node_modules/.bin).
 */
import { Crc32c, Frame } from "@fsys/core"
import * as Native from "../packages/core/src/internal/crc/native.ts"
import * as Software from "../packages/core/src/internal/crc/software.ts"

/** Bytes hashed per measurement (per implementation and size): enough for ~10–100 ms each. */
const BYTES_PER_MEASUREMENT = 64 * 1024 * 1024
/** Best of this many measurements, to drop noise from the other tenants of a 2-core machine. */
const ROUNDS = 5

type Implementation = (bytes: Uint8Array) => number

const implementations: ReadonlyArray<readonly [string, Implementation | undefined]> = [
  ["software (slicing-by-16)", (bytes) => Software.computeRange(bytes, 0, bytes.length, 0)],
  ["native (@node-rs/crc32)", Native.crc32c === undefined ? undefined : (bytes) => Native.crc32c!(bytes, 0)],
  ["Crc32c.compute", (bytes) => Crc32c.compute(bytes)],
]

/** Nanoseconds per call, best of ROUNDS. */
const measure = (implementation: Implementation, bytes: Uint8Array): number => {
  const calls = Math.max(1, Math.floor(BYTES_PER_MEASUREMENT / bytes.length))
  let best = Number.POSITIVE_INFINITY
  let sink = 0
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint()
    for (let call = 0; call < calls; call++) sink ^= implementation(bytes)
    best = Math.min(best, Number(process.hrtime.bigint() - start) / calls)
  }
  if (sink === 0.5) console.log("unreachable") // keeps the loop observable to the JIT
  return best
}

const randomBytes = (length: number): Uint8Array => {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = (Math.random() * 256) | 0
  return bytes
}

const row = (cells: ReadonlyArray<string>) => `| ${cells.join(" | ")} |`

console.log(`Crc32c.backend = ${Crc32c.backend}, nativeThresholdBytes = ${Crc32c.nativeThresholdBytes}\n`)

const sizes: ReadonlyArray<readonly [string, number]> = [
  ["100 B", 100],
  ["4 KiB", 4096],
  ["1 MiB", 1 << 20],
]
console.log("Throughput, MB/s (10^6 bytes/s), best of", ROUNDS)
console.log(row(["implementation", ...sizes.map(([label]) => label)]))
console.log(row(["---", ...sizes.map(() => "---:")]))
for (const [name, implementation] of implementations) {
  const cells = sizes.map(([, size]) => {
    if (implementation === undefined) return "n/a"
    const nanos = measure(implementation, randomBytes(size))
    return ((size / nanos) * 1000).toFixed(0)
  })
  console.log(row([name, ...cells]))
}

console.log("\nNanoseconds per call near the threshold")
const thresholdSizes = [32, 64, 128, 192, 256, 384, 512]
console.log(row(["implementation", ...thresholdSizes.map((size) => `${size} B`)]))
console.log(row(["---", ...thresholdSizes.map(() => "---:")]))
for (const [name, implementation] of implementations) {
  const cells = thresholdSizes.map((size) =>
    implementation === undefined ? "n/a" : measure(implementation, randomBytes(size)).toFixed(0),
  )
  console.log(row([name, ...cells]))
}

console.log("\nFraming, nanoseconds per record")
console.log(row(["operation", ...sizes.slice(0, 2).map(([label]) => label)]))
console.log(row(["---", ...sizes.slice(0, 2).map(() => "---:")]))
const target = new Uint8Array(Frame.frameBytes(4096) * 2)
const encodeCells = sizes.slice(0, 2).map(([, size]) => {
  const payload = randomBytes(size)
  return measure(() => Frame.encodeInto(target, 7, payload), payload).toFixed(0)
})
console.log(row(["Frame.encodeInto", ...encodeCells]))
const decodeCells = sizes.slice(0, 2).map(([, size]) => {
  const frame = Frame.encode(randomBytes(size))
  return measure((bytes) => Frame.decode(bytes, 0)._tag.length, frame).toFixed(0)
})
console.log(row(["Frame.decode", ...decodeCells]))
