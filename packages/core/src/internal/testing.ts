/**
 * Deliberate bugs, off by default, that the crash-safety suites switch on to prove they would
 * catch them (mutation testing). Exported as `@fsys/core/testing`; nothing outside the tests may
 * set them. Each is read once per group-commit round, so they cost nothing on the hot path.
 *
 * @since 0.1.0
 */

export interface Mutations {
  /**
   * Publish a round's target as durable when the round starts, before its write and fdatasync:
   * the durable frontier then covers bytes not yet on disk, and a `syncThrough` that checks it
   * returns early (the effect of fsys bug FS-J3).
   */
  publishFrontierEarly: boolean
}

/** @since 0.1.0 */
export const mutations: Mutations = { publishFrontierEarly: false }
