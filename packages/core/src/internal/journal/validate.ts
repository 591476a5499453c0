/**
 * The journal's input checks, before anything is reserved or written (bad input changes nothing
 * on disk): a payload must be a plain, attached `Uint8Array` view of at most `Frame.PAYLOAD_BYTES_MAX`
 * bytes; a batch is checked into a private array, so the caller cannot swap an element after its
 * check.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as Frame from "../../Frame.ts"
import { InvalidOptions, type JournalError, RecordTooLarge } from "../../JournalError.ts"
import { plainView } from "./payload.ts"

/** Payloads checked between two reads of the clock; a batch up to this size is checked in one go. */
const VALIDATE_CLOCK_EVERY = 256
/**
 * A turn of checks ends once it took this long. A count alone does not bound the time: 16 K
 * checks per turn took ≈ 1 ms with the JIT warm and 9 ms before it was (the first turns of the
 * first big batch), which held the event loop past its 10 ms budget together with the next turn.
 */
const VALIDATE_TURN_MILLIS = 2

/** The payload as a plain view of the caller's bytes, or why it cannot be appended. */
export const checkPayload = (payload: Uint8Array): Uint8Array | JournalError => {
  const view = plainView(payload)
  if (view instanceof InvalidOptions) return view
  if (view.byteLength > Frame.PAYLOAD_BYTES_MAX) {
    return new RecordTooLarge({ payloadBytes: view.byteLength, maxPayloadBytes: Frame.PAYLOAD_BYTES_MAX })
  }
  return view
}

/**
 * Checks every payload before anything is appended (bad input changes nothing on disk). A big
 * batch is checked for at most `VALIDATE_TURN_MILLIS` per event-loop turn (1 M payloads took
 * 120 ms in one turn) into a copy of the array, so the caller cannot swap an element after its check.
 */
export const validateBatch = (
  payloads: ReadonlyArray<Uint8Array>,
): Effect.Effect<{ readonly accepted: ReadonlyArray<Uint8Array>; readonly bytes: number }, JournalError> => {
  // The batch is as long as it was at the call (an element pushed while a big batch is checked
  // across turns is not part of it), and the copy has its full size from the start: grown by
  // `push`, each growth copied the whole array so far, one turn taking up to 11 ms at 700 K.
  const count = payloads.length
  const accepted = new Array<Uint8Array>(count)
  const check = (from: number, to: number): number | JournalError => {
    let bytes = 0
    for (let i = from; i < to; i++) {
      const view = checkPayload(payloads[i]!)
      if (!(view instanceof Uint8Array)) return view
      bytes += view.byteLength + Frame.OVERHEAD_BYTES
      accepted[i] = view
    }
    return bytes
  }
  if (count <= VALIDATE_CLOCK_EVERY) {
    const bytes = check(0, count)
    return typeof bytes === "number" ? Effect.succeed({ accepted, bytes }) : Effect.fail(bytes)
  }
  return Effect.gen(function* () {
    let bytes = 0
    let turnStartMillis = performance.now()
    for (let from = 0; from < count; from += VALIDATE_CLOCK_EVERY) {
      if (from > 0 && performance.now() - turnStartMillis >= VALIDATE_TURN_MILLIS) {
        yield* Effect.yieldNow
        turnStartMillis = performance.now()
      }
      const checked = check(from, Math.min(count, from + VALIDATE_CLOCK_EVERY))
      if (typeof checked !== "number") return yield* Effect.fail(checked)
      bytes += checked
    }
    return { accepted, bytes }
  })
}
