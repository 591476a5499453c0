/**
 * The demo's records: small JSON events, so `fsys tail --format json` on the demo journal reads
 * well. Phase one writes orders from many producers; the crash phase's child writes numbered
 * events whose ids it reports once they are durable.
 */

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** An order event written by producer `producer` as its `seq`-th record. */
export const order = (producer: number, seq: number): Uint8Array =>
  encoder.encode(`{"type":"order","producer":${producer},"seq":${seq},"amount":${(producer * 7 + seq * 13) % 1000}}`)

/** An event the crash-test child writes; `id` counts from 0. */
export const childEvent = (id: number): Uint8Array =>
  encoder.encode(`{"type":"child","id":${id},"note":"written by a process that will be killed"}`)

/** Parses a record back: its type and id (`seq` for orders), or undefined when malformed. */
export const parse = (
  payload: Uint8Array,
): { readonly type: string; readonly id: number; readonly producer: number } | undefined => {
  try {
    const value = JSON.parse(decoder.decode(payload)) as {
      type?: unknown
      id?: unknown
      seq?: unknown
      producer?: unknown
    }
    if (value.type === "child" && typeof value.id === "number") return { type: "child", id: value.id, producer: -1 }
    if (value.type === "order" && typeof value.seq === "number" && typeof value.producer === "number") {
      return { type: "order", id: value.seq, producer: value.producer }
    }
    return undefined
  } catch {
    return undefined
  }
}
