/**
 * A small deterministic PRNG for the seeded tests (mulberry32): a failure names its seed and
 * replays exactly. Enough to choose steps; not a statistical generator (the simulated disk and
 * the crash suites use `@fsys/testkit`'s, which core's tests do not depend on).
 */
export interface SeededRandom {
  /** A uniform float in [0, 1). */
  readonly float: () => number
  /** A uniform integer in [0, bound). */
  readonly int: (bound: number) => number
  /** True with probability `probability`. */
  readonly chance: (probability: number) => boolean
}

export const seededRandom = (seed: number): SeededRandom => {
  let state = seed >>> 0
  const float = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000
  }
  return { float, int: (bound) => Math.floor(float() * bound), chance: (probability) => float() < probability }
}
