/**
 * The one assertion helper of `@fsys/core`: invariants that no input can break (bugs, not errors).
 *
 * A failed assertion throws a defect (`fsys invariant violated: …`), never a typed error: typed
 * errors are for callers' mistakes and host failures (docs/ARCHITECTURE.md, "Errors"). Callers'
 * input is validated at the boundary and refused with `InvalidOptions`/`RecordTooLarge` before any
 * assertion can see it.
 *
 * @since 0.1.0
 */

/**
 * Throws the invariant defect. For a check whose message is costly to build on a hot path:
 * `if (bad) return violated(\`…\`)` builds it only when the invariant is broken.
 */
export const violated = (message: string): never => {
  throw new Error(`fsys invariant violated: ${message}`)
}

/** Throws a defect when `condition` is false. */
export const assert = (condition: boolean, message: string): void => {
  if (!condition) violated(message)
}

/** For the arm of a closed union that cannot be reached; throws the same defect. */
export const assertNever = (message: string): never => violated(message)
