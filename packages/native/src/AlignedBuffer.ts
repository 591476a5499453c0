/**
 * The shape of sector-aligned memory handed to the kernel for Direct IO.
 *
 * Every `FileIo` layer allocates its own aligned buffers (`FileIo.allocateAligned`): the native
 * layers from `posix_memalign`, the simulated disk from the JS heap with a synthetic address. A
 * Direct-IO write must come from a buffer the same layer allocated, so the layer knows its address
 * (and, for io_uring, its registration index). The `bytes` view is valid only inside the Scope
 * that allocated it.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category models
 */
export interface AlignedBuffer {
  /** A zero-copy view over the whole allocation; never use it after its Scope closes. */
  readonly bytes: Uint8Array
  /** The allocation's address (native layers) or a synthetic aligned address (simulated disk). */
  readonly address: bigint
  readonly byteLength: number
  readonly alignmentBytes: number
}
