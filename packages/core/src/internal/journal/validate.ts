/**
 * The journal's input checks, before anything is reserved or written (bad input changes nothing
 * on disk): a payload must be a plain, attached `Uint8Array` view of at most `Frame.MAX_PAYLOAD`
 * bytes; a batch is checked into a private array, so the caller cannot swap an element after its
 * check.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as Frame from "../../Frame.ts"
import { InvalidOptions, type JournalError, RecordTooLarge } from "../../JournalError.ts"
import { plainView } from "./payload.ts"

/** Payloads of one `appendBatch` checked per event-loop turn (≈ 2 ms even before the JIT warms up). */
const VALIDATE_PER_TURN = 16 * 1024

/** The payload as a plain view of the caller's bytes, or why it cannot be appended. */
export const checkPayload = (payload: Uint8Array): Uint8Array | JournalError => {
  const view = plainView(payload)
  if (view instanceof InvalidOptions) return view
  if (view.byteLength > Frame.MAX_PAYLOAD) {
    return new RecordTooLarge({ payloadBytes: view.byteLength, maxPayloadBytes: Frame.MAX_PAYLOAD })
  }
  return view
}

/**
 * Checks every payload before anything is appended (bad input changes nothing on disk). A big
 * batch is checked `VALIDATE_PER_TURN` payloads per event-loop turn (1 M payloads took 120 ms
 * in one turn) into a copy of the array, so the caller cannot swap an element after its check.
 */
export const validateBatch = (
  payloads: ReadonlyArray<Uint8Array>,
): Effect.Effect<{ readonly accepted: ReadonlyArray<Uint8Array>; readonly bytes: number }, JournalError> => {
  const accepted: Array<Uint8Array> = []
  const check = (from: number, to: number): number | JournalError => {
    let bytes = 0
    for (let i = from; i < to; i++) {
      const view = checkPayload(payloads[i]!)
      if (!(view instanceof Uint8Array)) return view
      bytes += view.byteLength + Frame.OVERHEAD
      accepted.push(view)
    }
    return bytes
  }
  if (payloads.length <= VALIDATE_PER_TURN) {
    const bytes = check(0, payloads.length)
    return typeof bytes === "number" ? Effect.succeed({ accepted, bytes }) : Effect.fail(bytes)
  }
  return Effect.gen(function* () {
    let bytes = 0
    for (let from = 0; from < payloads.length; from += VALIDATE_PER_TURN) {
      if (from > 0) yield* Effect.yieldNow
      const checked = check(from, Math.min(payloads.length, from + VALIDATE_PER_TURN))
      if (typeof checked !== "number") return yield* Effect.fail(checked)
      bytes += checked
    }
    return { accepted, bytes }
  })
}
