/**
 * Payload validation at the journal's boundary: what `append` and `appendBatch` accept, and the
 * plain view of the caller's bytes that everything below them reads.
 *
 * Why not just `instanceof Uint8Array` and `payload.length`: `Object.create(Uint8Array.prototype)`
 * passes `instanceof` and then throws inside the copy (a defect instead of a typed error); a view
 * on a detached ArrayBuffer throws the same way; and a subclass may override `length` (or
 * `byteLength`): a frame sized by a lying `length` of 1000 over 10 real bytes wrote 990 stale
 * bytes of earlier records from the slot (issue 10 item 6). So the checks read the intrinsic
 * `%TypedArray%.prototype` getters, which see the real view (and throw on anything that is not a
 * typed array), and a payload that is not a plain `Uint8Array` or `Buffer` is replaced by a plain
 * `Uint8Array` view of the same bytes (no copy). Nothing is written for a payload that fails.
 *
 * Cost per payload: two intrinsic getter calls, a prototype check and two own-property checks
 * (the buffer is looked at only for a view that reads as empty); the view is allocated only for
 * subclasses.
 *
 * @internal
 */
import { InvalidOptions } from "../../JournalError.ts"

const typedArrayPrototype: object = Object.getPrototypeOf(Uint8Array.prototype)

const intrinsicGetter = (name: PropertyKey): ((this: unknown) => unknown) => {
  const descriptor = Object.getOwnPropertyDescriptor(typedArrayPrototype, name)
  const get = descriptor?.get
  if (get === undefined) throw new Error(`fsys: %TypedArray%.prototype has no ${String(name)} getter`)
  return get
}

const byteLengthOf = intrinsicGetter("byteLength")
const byteOffsetOf = intrinsicGetter("byteOffset")
const bufferOf = intrinsicGetter("buffer")
const tagOf = intrinsicGetter(Symbol.toStringTag)

/**
 * The prototypes whose `length`/`byteLength` are the intrinsic ones (Buffer is a plain subclass),
 * compared by identity: two comparisons cost less than a `Set` lookup on every append.
 */
const uint8ArrayPrototype: object = Uint8Array.prototype
const bufferPrototype: object = Buffer.prototype

const invalidPayload = (reason: string) => new InvalidOptions({ option: "payload", reason })

/**
 * The caller's bytes as a view whose `length` and `byteLength` are the real ones, or the typed
 * error saying why they cannot be appended.
 *
 * @internal
 */
export const plainView = (payload: unknown): Uint8Array | InvalidOptions => {
  // The intrinsic getter returns undefined for other objects' tags and throws on non-views.
  if (typeof payload !== "object" || payload === null || tagOf.call(payload) !== "Uint8Array") {
    return invalidPayload("must be a Uint8Array")
  }
  const view = payload as Uint8Array
  const byteLength = byteLengthOf.call(view) as number
  // A view on a detached (or out-of-bounds) buffer reads as 0 bytes through the intrinsic getter:
  // only an empty-looking view needs the (costlier) look at its buffer.
  if (byteLength === 0 && (bufferOf.call(view) as { readonly detached?: boolean }).detached === true) {
    return invalidPayload("is a view on a detached ArrayBuffer")
  }
  const prototype: unknown = Object.getPrototypeOf(view)
  if (
    (prototype === uint8ArrayPrototype || prototype === bufferPrototype) &&
    !Object.hasOwn(view, "length") &&
    !Object.hasOwn(view, "byteLength")
  ) {
    return view
  }
  return new Uint8Array(bufferOf.call(view) as ArrayBufferLike, byteOffsetOf.call(view) as number, byteLength)
}
