/**
 * A small deterministic pseudo-random number generator for simulations.
 *
 * Every random choice the simulated disk and the crash suites make (which unsynced sector
 * survives, where a write tears, which fault fires, what the workload does) comes from one of these
 * streams, so a failing seed replays exactly. `sfc32` (Chris Doty-Humphrey's small fast counting
 * generator) passes PractRand to large sizes, needs only 32-bit integer arithmetic (fast in V8,
 * no BigInt), and `splitmix32` spreads a user's small seed (1, 2, 3…) over its 128-bit state.
 *
 * @since 0.1.0
 */

/** Seeds are unsigned 32-bit integers; anything else is reduced into that range. */
const UINT32_RANGE = 0x1_0000_0000

/** Rounds the state through before use so that seeds 1 and 2 give unrelated streams. */
const WARMUP_ROUNDS = 16

/** One step of splitmix32, used only to expand a seed into the generator's state. */
const splitmix32 = (state: { value: number }): number => {
  state.value = (state.value + 0x9e3779b9) | 0
  let z = state.value
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/**
 * A seeded stream of random numbers. Not cryptographic; deterministic by design.
 */
export interface Prng {
  readonly seed: number
  /** A uniform unsigned 32-bit integer. */
  readonly nextUint32: () => number
  /** A uniform float in [0, 1). */
  readonly float: () => number
  /** A uniform integer in [0, bound); `bound` must be a positive safe integer ≤ 2^32. */
  readonly int: (bound: number) => number
  /** A uniform integer in [min, max] (both inclusive). */
  readonly range: (min: number, max: number) => number
  /** True with probability `probability`. */
  readonly chance: (probability: number) => boolean
  /** A uniformly chosen element of a non-empty array. */
  readonly pick: <A>(items: ReadonlyArray<A>) => A
  /** An independent child stream (for a sub-simulation), derived from this stream and a label. */
  readonly fork: (label: number) => Prng
}

/** Reduces any number to an unsigned 32-bit seed (negative and fractional seeds are accepted). */
export const normalizeSeed = (seed: number): number => {
  if (!Number.isFinite(seed)) throw new RangeError(`prng: seed must be finite, got ${seed}`)
  return ((Math.trunc(seed) % UINT32_RANGE) + UINT32_RANGE) % UINT32_RANGE
}

/** Builds a generator from a seed. */
export const make = (seedInput: number): Prng => {
  const seed = normalizeSeed(seedInput)
  const expand = { value: seed }
  let a = splitmix32(expand)
  let b = splitmix32(expand)
  let c = splitmix32(expand)
  let d = splitmix32(expand) | 1 // the counter word; odd keeps it away from a short cycle

  const nextUint32 = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  for (let round = 0; round < WARMUP_ROUNDS; round++) nextUint32()

  const float = (): number => nextUint32() / UINT32_RANGE
  const int = (bound: number): number => {
    if (!Number.isSafeInteger(bound) || bound <= 0 || bound > UINT32_RANGE) {
      throw new RangeError(`prng: bound must be an integer in [1, 2^32], got ${bound}`)
    }
    // Rejection sampling: without it the low values of a bound that does not divide 2^32 are
    // favoured, which skews "pick a sector" choices on big files.
    const limit = UINT32_RANGE - (UINT32_RANGE % bound)
    for (;;) {
      const value = nextUint32()
      if (value < limit) return value % bound
    }
  }
  const range = (min: number, max: number): number => {
    if (max < min) throw new RangeError(`prng: empty range [${min}, ${max}]`)
    return min + int(max - min + 1)
  }
  const chance = (probability: number): boolean => probability >= 1 || (probability > 0 && float() < probability)
  const pick = <A>(items: ReadonlyArray<A>): A => {
    if (items.length === 0) throw new RangeError("prng: pick from an empty array")
    return items[int(items.length)] as A
  }
  const fork = (label: number): Prng => make((nextUint32() ^ Math.imul(normalizeSeed(label) + 1, 0x9e3779b1)) >>> 0)
  return { seed, nextUint32, float, int, range, chance, pick, fork }
}

/**
 * Derives a seed for a sub-stream from a parent seed and a label, without consuming any draws
 * from a parent stream (so adding a new consumer never shifts an existing one).
 */
export const derive = (seed: number, label: number): number => {
  const state = { value: (normalizeSeed(seed) ^ Math.imul(normalizeSeed(label) + 1, 0x85ebca6b)) | 0 }
  splitmix32(state)
  return splitmix32(state)
}
