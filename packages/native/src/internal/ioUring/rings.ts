/**
 * Which ring state stands behind each public `IoUring.Ring` object: the public modules
 * (`IoUring`, `IoUringCallback`) look it up here, so a ring is only ever driven through the state
 * `IoUring.make` set up for it.
 *
 * @internal
 */
import type { Ring } from "./ring.ts"

const rings = new WeakMap<object, Ring>()

/** Called once by `IoUring.make` for the ring object it hands out. */
export const remember = (ring: object, state: Ring): void => {
  rings.set(ring, state)
}

/** The state of a ring made by `IoUring.make`; anything else is a caller's bug. */
export const internalOf = (ring: object): Ring => {
  const state = rings.get(ring)
  if (state === undefined) throw new Error("IoUring: not a ring made by IoUring.make")
  return state
}
