/**
 * A ratio pass by pass: pass k of a subject divided by pass k of its base (node:fs, the best
 * peer, the ceiling), which ran in the same round of the interleaving, minutes closer in time
 * than the medians of different rounds. On this VM a row's ratio moves by a quarter or more
 * between runs of the same build; the spread shows, in every table and target, whether a miss is
 * outside that noise.
 */
import type { Measurement, Outcome } from "@fsys/bench/Protocol"

/**
 * A ratio pass by pass: pass k of the subject over pass k of the base (the passes of one round
 * ran back to back), for every k where both were measured.
 */
export interface Spread {
  readonly low: number
  readonly high: number
  /** The per-pass ratios, in pass order. */
  readonly ratios: ReadonlyArray<number>
}

/** Pairs `values` with `bases` pass by pass; null unless at least two passes pair up. */
export const spread = (
  values: ReadonlyArray<number | null>,
  bases: ReadonlyArray<number | null> | undefined,
): Spread | null => {
  if (bases === undefined) return null
  const ratios: Array<number> = []
  for (let pass = 0; pass < Math.min(values.length, bases.length); pass++) {
    const value = values[pass]
    const base = bases[pass]
    if (value !== null && value !== undefined && base !== null && base !== undefined && base > 0) {
      ratios.push(value / base)
    }
  }
  if (ratios.length < 2) return null
  return { low: Math.min(...ratios), high: Math.max(...ratios), ratios }
}

/** Each pass's value (null where the pass was not measured). */
export const perPass = (outcomes: ReadonlyArray<Outcome>, value: (m: Measurement) => number): Array<number | null> =>
  outcomes.map((o) => (o._tag === "Measured" ? value(o.measurement) : null))
