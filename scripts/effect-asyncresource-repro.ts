/**
 * Minimal reproduction for an upstream report to Effect: effect 4.1 creates a
 * `node:async_hooks` `AsyncResource` on every fiber suspension (`FiberImpl.evaluate` →
 * `captureAsyncContext()` when `runLoop` yields, then `runInAsyncScope` + `emitDestroy` on resume),
 * and there is no way to opt out. For a program whose fibers park and wake often (a group-commit
 * journal: every producer parks once per durable record) this is a measurable share of the CPU.
 *
 * The program: 64 fibers, each loops `ROUNDS` times: park on a shared `Deferred`, which one
 * driver completes once all 64 are parked (one "round"). Run twice in child processes, in
 * alternation: as is, and with `node:async_hooks` hidden from effect's module-load probe
 * (`process.getBuiltinModule("node:async_hooks")` returns `undefined` before `effect` is imported:
 * what an opt-out would do). Prints ns of CPU per park + wake for each.
 *
 * Run: `npx pnpm@12.4.2 exec node scripts/effect-asyncresource-repro.ts [passes=3]`
 */
import { execFileSync } from "node:child_process"

const FIBERS = 64
const ROUNDS = 4000

const child = async (hide: boolean): Promise<void> => {
  if (hide) {
    const original = process.getBuiltinModule.bind(process)
    ;(process as { getBuiltinModule: (id: string) => unknown }).getBuiltinModule = (id: string) =>
      id === "node:async_hooks" || id === "async_hooks" ? undefined : original(id)
  }
  const { Deferred, Effect, Exit } = await import("effect")
  let gate = Deferred.makeUnsafe<void>()
  let parked = 0
  const park = Effect.suspend(() => {
    const current = gate
    if (++parked === FIBERS) {
      // The last one to arrive opens the round for everyone (on the next microtask, so that it
      // parks too, like a completion from IO would).
      parked = 0
      gate = Deferred.makeUnsafe<void>()
      queueMicrotask(() => Deferred.doneUnsafe(current, Exit.void))
    }
    return Deferred.await(current)
  })
  const fiber = Effect.gen(function* () {
    for (let i = 0; i < ROUNDS; i++) yield* park
  })
  const all = Effect.forEach(Array.from({ length: FIBERS }), () => fiber, { concurrency: "unbounded", discard: true })
  await Effect.runPromise(all) // warm-up
  const cpu0 = process.cpuUsage()
  await Effect.runPromise(all)
  const cpu = process.cpuUsage(cpu0)
  process.stdout.write(String(((cpu.user + cpu.system) * 1000) / (FIBERS * ROUNDS)))
}

if (process.argv[2] === "--child") {
  await child(process.argv[3] === "hide")
} else {
  const passes = Number(process.argv[2] ?? 3)
  const samples: Record<string, Array<number>> = { asIs: [], hidden: [] }
  for (let pass = 0; pass < passes; pass++) {
    for (const mode of pass % 2 === 0 ? ["asIs", "hidden"] : ["hidden", "asIs"]) {
      const out = execFileSync(process.execPath, [process.argv[1]!, "--child", mode === "hidden" ? "hide" : "keep"])
      samples[mode]!.push(Number(out.toString()))
    }
  }
  const median = (values: Array<number>) => values.sort((a, b) => a - b)[values.length >> 1]!
  const asIs = median(samples.asIs!)
  const hidden = median(samples.hidden!)
  console.log(`effect 4.1, ${FIBERS} fibers × ${ROUNDS} park+wake, ${passes} passes (median ns CPU per park+wake):`)
  console.log(`  as is (AsyncResource per suspension): ${asIs.toFixed(0)} ns  ${JSON.stringify(samples.asIs)}`)
  console.log(`  async_hooks hidden from effect:       ${hidden.toFixed(0)} ns  ${JSON.stringify(samples.hidden)}`)
  console.log(`  AsyncResource cost: ${(asIs - hidden).toFixed(0)} ns per suspension (${(asIs / hidden).toFixed(2)}×)`)
}
