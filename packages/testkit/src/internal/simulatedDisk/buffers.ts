/**
 * Aligned memory on the simulated disk: heap buffers with synthetic, aligned addresses.
 *
 * A Direct-IO call must pass the buffer's address alignment check, so the disk needs to know the
 * address of any `Uint8Array` handed to it: it looks the view's `ArrayBuffer` up here and adds the
 * view's byte offset. Views over memory the disk did not allocate (plain heap buffers) have no
 * known address and fail Direct IO with EINVAL, deterministically, where a real kernel would
 * fail only when the heap happened to be misaligned.
 *
 * The registry also catches the lifetime bugs fsys shipped (FS-C2): a buffer freed while an IO on
 * it is still in flight, and IO on a buffer after its Scope freed it, are recorded as violations.
 *
 * @since 0.1.0
 */

/** First synthetic address; high enough to never look like a small integer or a null pointer. */
const ADDRESS_BASE = 0x7f00_0000_0000n

/** Addresses are handed out at page granularity at least, like posix_memalign for big blocks. */
const ADDRESS_GRANULE_BYTES = 4096n

/** One allocation's bookkeeping. */
export interface BufferRecord {
  readonly address: bigint
  readonly byteLength: number
  readonly alignmentBytes: number
  freed: boolean
  /** IOs that have been submitted with this buffer and not yet completed. */
  inflight: number
}

export class BufferRegistry {
  private readonly records = new WeakMap<ArrayBufferLike, BufferRecord>()
  private nextAddress = ADDRESS_BASE

  allocate(byteLength: number, alignmentBytes: number): { readonly bytes: Uint8Array; readonly record: BufferRecord } {
    const granule = BigInt(alignmentBytes) > ADDRESS_GRANULE_BYTES ? BigInt(alignmentBytes) : ADDRESS_GRANULE_BYTES
    const address = ((this.nextAddress + granule - 1n) / granule) * granule
    this.nextAddress = address + ((BigInt(byteLength) + granule - 1n) / granule) * granule
    const bytes = new Uint8Array(byteLength)
    const record: BufferRecord = { address, byteLength, alignmentBytes, freed: false, inflight: 0 }
    this.records.set(bytes.buffer, record)
    return { bytes, record }
  }

  /** The allocation a view points into, if this disk allocated it. */
  recordOf(view: Uint8Array): BufferRecord | undefined {
    return this.records.get(view.buffer)
  }

  /** The view's synthetic address, or undefined for memory this disk did not allocate. */
  addressOf(view: Uint8Array): bigint | undefined {
    const record = this.records.get(view.buffer)
    return record === undefined ? undefined : record.address + BigInt(view.byteOffset)
  }
}
