/**
 * Matching scripted faults against simulated system calls.
 *
 * A rule fires on the nth matching call after it was injected, or on each matching call with a
 * probability, or on every matching call, up to `times` firings. All draws come from the disk's
 * fault stream, so the same seed and the same call sequence fire the same faults.
 *
 * @since 0.1.0
 */
import type { Fault, FaultOp, FaultRule } from "../../SimulatedDisk.ts"
import type { Prng } from "../prng.ts"

/** More rules than this at once is a test bug (a rule injected in a loop without clearing). */
export const FAULT_RULES_MAX = 1024

interface RuleState {
  readonly rule: FaultRule
  readonly ops: ReadonlySet<FaultOp>
  readonly timesMax: number
  seen: number
  fired: number
}

export class FaultTable {
  private rules: Array<RuleState> = []

  add(rule: FaultRule): void {
    if (this.rules.length >= FAULT_RULES_MAX) {
      throw new RangeError(`SimulatedDisk: more than ${FAULT_RULES_MAX} fault rules injected`)
    }
    if (rule.nth !== undefined && (!Number.isSafeInteger(rule.nth) || rule.nth < 1)) {
      throw new RangeError(`SimulatedDisk: fault rule nth must be an integer ≥ 1, got ${rule.nth}`)
    }
    if (rule.probability !== undefined && !(rule.probability >= 0 && rule.probability <= 1)) {
      throw new RangeError(`SimulatedDisk: fault rule probability must be in [0, 1], got ${rule.probability}`)
    }
    if (rule.nth !== undefined && rule.probability !== undefined) {
      throw new RangeError("SimulatedDisk: a fault rule takes nth or probability, not both")
    }
    const timesMax = rule.times ?? (rule.nth !== undefined ? 1 : Number.POSITIVE_INFINITY)
    const ops = new Set(typeof rule.op === "string" ? [rule.op] : rule.op)
    this.rules.push({ rule, ops, timesMax, seen: 0, fired: 0 })
  }

  clear(): void {
    this.rules = []
  }

  get size(): number {
    return this.rules.length
  }

  /** The faults that fire for this call, in injection order (empty when none). */
  match(op: FaultOp, path: string, rng: Prng): ReadonlyArray<Fault> {
    if (this.rules.length === 0) return noFaults
    let fired: Array<Fault> | undefined
    for (const state of this.rules) {
      if (!state.ops.has(op) || state.fired >= state.timesMax) continue
      const { rule } = state
      if (rule.path !== undefined) {
        const matches = typeof rule.path === "string" ? rule.path === path : rule.path(path)
        if (!matches) continue
      }
      state.seen++
      const fires =
        rule.nth !== undefined
          ? state.seen >= rule.nth
          : rule.probability !== undefined
            ? rng.chance(rule.probability)
            : true
      if (!fires) continue
      state.fired++
      if (fired === undefined) fired = []
      fired.push(rule.fault)
    }
    return fired ?? noFaults
  }
}

const noFaults: ReadonlyArray<Fault> = []
