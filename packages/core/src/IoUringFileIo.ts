/**
 * The io_uring layer of the `FileIo` port: writes, reads and syncs go through one ring per layer,
 * with completions reaped on the event loop (`@fsys/native` `IoUring`).
 *
 * - Backend `"io_uring"`. `writeAt`, `readAt`, `datasync`, `sync` and `writeAtThenDatasync` are
 *   ring operations; `writeAtThenDatasync` is ONE submission of a WRITE linked to an
 *   FSYNC(DATASYNC), so the sync never runs when the write failed.
 * - Writes and reads from buffers registered with `registerBuffers` become WRITE_FIXED /
 *   READ_FIXED automatically (the ring finds the buffer by its allocation). Every journal on the
 *   ring registers its own slots (a shared table); where the kernel refuses (RLIMIT_MEMLOCK for
 *   non-root users and containers, a full table, one registration per ring before Linux 5.19),
 *   the journal runs unregistered and its `info().reason` says why: never a failed open.
 * - Writes from ordinary JS `Uint8Array`s are fine too: the ring keeps the array referenced until
 *   the CQE arrives, so neither GC nor an interrupted fiber can release memory the kernel reads.
 *   Memory from `allocateAligned` is freed only after every operation on it completed.
 * - Metadata operations (open, close, truncate, allocate, size, lock, remove, rename,
 *   listDirectory, makeDirectory, syncDirectory) are
 *   rare and reuse the Node layer (`NodeFileIo`), handles included: a ring operation pins the
 *   handle's fd like a threadpool call does, and unpins it when its CQE is reaped (not when the
 *   fiber resumes), so closing a handle never closes an fd a submitted SQE still names (an fd
 *   number reused by the next open would otherwise receive the write: fsys bug FS-C1).
 * - Interrupting a fiber that awaits a ring operation leaves the operation tracked by the ring;
 *   its buffer and its fd are released when the CQE arrives.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import type * as Scope from "effect/Scope"
import { AlignedMemory, type IoError, IoUring } from "@fsys/native"
import * as FileIo from "./FileIo.ts"
import * as CallbackIo from "./internal/callbackIo.ts"
import * as Ops from "./internal/ioUring/ops.ts"
import * as Registration from "./internal/ioUring/registration.ts"
import { make as makeNode } from "./internal/nodeFileIo/make.ts"

/**
 * Default ring size: enough SQEs for two log-buffer slots and a batch of reads in flight; more
 * callers wait (backpressure) rather than grow anything.
 *
 * @since 0.1.0
 * @category constants
 */
export const ENTRIES_DEFAULT = 64

/**
 * @deprecated Use `ENTRIES_DEFAULT` (qualifiers come last: `_MIN`, `_MAX`, `_DEFAULT`).
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_ENTRIES = ENTRIES_DEFAULT

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Ring size (SQEs in flight), a power of two from 2 to 4096. Default `ENTRIES_DEFAULT`. */
  readonly entries?: number
  /** Overrides the `reason` the service reports (FileIoAuto says why it chose io_uring). */
  readonly reason?: string
}

/**
 * The io_uring service over an existing ring (e.g. one ring shared by several services, or a
 * test that reads the ring's stats). The ring's Scope must outlive the service's use.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromRing = (ring: IoUring.Ring, options?: { readonly reason?: string }): FileIo.FileIoService => {
  const node = makeNode()
  const reason =
    options?.reason ??
    `io_uring: one ring of ${ring.sqEntries} entries, completions on the event loop (features 0x${ring.features.toString(16)})`
  const service = FileIo.FileIo.of({
    backend: "io_uring",
    reason,
    open: node.open,
    close: node.close,
    writeAt: (handle, bytes, offsetBytes) => Ops.writeAll(ring, handle, bytes, offsetBytes),
    writeAtThenDatasync: (handle, bytes, offsetBytes) => Ops.writeAllThenDatasync(ring, handle, bytes, offsetBytes),
    writeAtDsync: (handle, bytes, offsetBytes) => Ops.writeAll(ring, handle, bytes, offsetBytes, true),
    readAt: (handle, into, offsetBytes) => Ops.readFull(ring, handle, into, offsetBytes),
    datasync: (handle) => Ops.fsync(ring, handle, true),
    sync: (handle) => Ops.fsync(ring, handle, false),
    syncDirectory: node.syncDirectory,
    truncate: node.truncate,
    allocate: node.allocate,
    startWriteback: node.startWriteback,
    size: node.size,
    lock: node.lock,
    directAlignment: node.directAlignment,
    remove: node.remove,
    rename: node.rename,
    listDirectory: node.listDirectory,
    makeDirectory: node.makeDirectory,
    allocateAligned: AlignedMemory.allocate,
    registerBuffers: (buffers) => Registration.registerBuffers(ring, buffers),
  })
  // The journal's writer submits its rounds through these, without a fiber per round.
  return CallbackIo.register(service, {
    dsync: true,
    write: (handle, bytes, offsetBytes, sync, done) => Ops.writeNow(ring, handle, bytes, offsetBytes, sync, done),
  })
}

/**
 * Builds the io_uring service: one ring, released (after in-flight operations) with the Scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<FileIo.FileIoService, IoError.IoError, Scope.Scope> =>
  Effect.map(IoUring.make({ entries: options?.entries ?? ENTRIES_DEFAULT }), (ring) =>
    fromRing(ring, options?.reason !== undefined ? { reason: options.reason } : undefined),
  )

/**
 * Provides `FileIo` through io_uring; fails when the ring cannot be set up (see `FileIoAuto` for
 * the layer that falls back to the Node layer instead).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never, IoError.IoError> = Layer.effect(FileIo.FileIo, make())

/**
 * `layer` with options.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<never, IoError.IoError> =>
  Layer.effect(FileIo.FileIo, make(options))
