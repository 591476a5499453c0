/**
 * Deliberate bugs, off by default, that the crash-safety suites switch on to prove they would
 * catch them (mutation testing). Exported as `@fsys/core/testing`.
 *
 * Injected, not global: `Mutations` is a `Context.Reference` that `Journal.open` reads once and
 * hands to the group commit as a construction option, so nothing consults shared state on the
 * hot path and one test's mutation cannot leak into a journal another fiber opens. A test
 * enables one for the journals it opens with
 * `Effect.provideService(Mutations, { ...noMutations, publishFrontierEarly: true })`.
 *
 * @since 0.1.0
 */
import { Context } from "effect"

/**
 * @since 0.1.0
 * @category models
 */
export interface MutationSet {
  /**
   * Publish a round's target as durable when the round starts, before its write and fdatasync:
   * the durable frontier then covers bytes not yet on disk, and a `syncThrough` that checks it
   * returns early (the effect of fsys bug FS-J3).
   */
  readonly publishFrontierEarly: boolean
  /**
   * With `syncMethod: "dsync"`, make every sync round one RWF_DSYNC write, even where bytes before
   * it are not durable yet (an unsynced slot write, what recovery found at open): the round then
   * acknowledges records that only an fdatasync would have made durable.
   */
  readonly dsyncBeforeDurable: boolean
}

/**
 * Every mutation off: what production runs.
 *
 * @since 0.1.0
 * @category constants
 */
export const noMutations: MutationSet = Object.freeze({ publishFrontierEarly: false, dsyncBeforeDurable: false })

/**
 * The mutations a journal opened in this context runs with (read once, at open).
 *
 * @since 0.1.0
 * @category services
 */
export const Mutations: Context.Reference<MutationSet> = Context.Reference<MutationSet>(
  "@fsys/core/testing/Mutations",
  {
    defaultValue: () => noMutations,
  },
)
