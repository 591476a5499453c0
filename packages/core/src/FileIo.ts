/**
 * The positional-IO port every file operation in fsys goes through.
 *
 * `FileIo` is a portable interface with thin per-runtime layers, like Effect's `FileSystem`:
 * `NodeFileIo.layer` (node:fs on the threadpool, koffi for what fs lacks), `IoUringFileIo.layer`
 * (one ring, completions on the event loop), `FileIoAuto.layer` (probes and picks, saying why) and
 * the testkit's `SimulatedDisk.layer` (power loss and fault injection). The journal, the log buffer
 * and the reader only ever see this interface, so every crash and fault test exercises the real
 * journal code.
 *
 * Contract shared by every layer:
 * - `writeAt` writes all of `bytes` at `offset` or fails; short writes are continued, a write that
 *   makes no progress fails with reason `ShortWrite`. It never reports bytes durable.
 * - `readAt` fills `into` from `offset` until it is full or the file ends, and returns the count.
 * - `datasync`/`sync` make every completed write of the handle durable; `syncDirectory` makes
 *   directory entries (a new file's name) durable.
 * - A Direct handle (`open(…, { direct: true })`) requires the buffer address, length and offset to
 *   be aligned to the device's DIO alignment, with buffers from this layer's `allocateAligned`.
 *   Filesystems that refuse O_DIRECT fail `open` with reason `InvalidArgument`.
 * - Handles are scoped: closing the Scope closes the fd, also on failure and interruption.
 *
 * @since 0.1.0
 */
import type { Scope } from "effect"
import { Context, type Effect } from "effect"
import type { AlignedBuffer, IoError } from "@fsys/native"
import { make as makeNode } from "./internal/nodeFileIo/make.ts"

/**
 * Which primitive a layer really uses.
 *
 * @since 0.1.0
 * @category models
 */
export type Backend = "io_uring" | "pwrite" | "simulated"

/**
 * Whether `allocate` grows the file (`"extend"`) or only reserves blocks (`"keepSize"`).
 *
 * @since 0.1.0
 * @category models
 */
export type AllocateMode = "keepSize" | "extend"

/**
 * @since 0.1.0
 * @category models
 */
export interface OpenOptions {
  /** Create the file if it does not exist (mode 0o644). */
  readonly create?: boolean
  /** Open with O_DIRECT; refused filesystems fail with reason `InvalidArgument`. */
  readonly direct?: boolean
  /** Open read-only (for readers); writes then fail with `BadDescriptor`. */
  readonly readOnly?: boolean
}

/**
 * What Direct IO on a file must (and should) align to, as its layer knows it.
 *
 * @since 0.1.0
 * @category models
 */
export interface DirectAlignment {
  /** The file-offset and length alignment O_DIRECT requires (statx `dio_offset_align`). */
  readonly offsetBytes: number
  /** The buffer-address alignment O_DIRECT requires (statx `dio_mem_align`). */
  readonly memoryBytes: number
  /**
   * The device's physical sector, its atomic write unit. A write covering one only in part is a
   * read-modify-write inside the device (512e disks), which can damage the bytes it did not
   * rewrite when the power fails; never smaller than `offsetBytes`.
   */
  readonly physicalSectorBytes: number
}

/**
 * The alignment a Direct journal uses for `alignment`: the largest of the three (so no write of
 * it is ever a read-modify-write inside the device), a power of two in [512, 65536].
 *
 * @since 0.1.0
 * @category utils
 */
export const journalAlignmentBytes = (alignment: DirectAlignment): number => {
  const largest = Math.max(alignment.offsetBytes, alignment.memoryBytes, alignment.physicalSectorBytes, 512)
  let bytes = 512
  while (bytes < largest && bytes < 65536) bytes *= 2
  return bytes
}

/**
 * An open file. Valid until `close` or the end of the Scope that opened it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handle {
  /** Unique for the life of the layer, never reused (unlike fd numbers: fsys bug FS-C1). */
  readonly id: number
  readonly path: string
  readonly direct: boolean
  readonly readOnly: boolean
  /** True when this open created the file: its directory entry is not durable yet. */
  readonly created: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface FileIoService {
  readonly backend: Backend
  /** Why this backend was chosen (shown by `Journal.info` and `fsys probe`). */
  readonly reason: string
  readonly open: (path: string, options?: OpenOptions) => Effect.Effect<Handle, IoError.IoError, Scope.Scope>
  /** Closes early; idempotent. The Scope closes it otherwise. */
  readonly close: (handle: Handle) => Effect.Effect<void, IoError.IoError>
  readonly writeAt: (handle: Handle, bytes: Uint8Array, offsetBytes: number) => Effect.Effect<void, IoError.IoError>
  /**
   * `writeAt` then `datasync`, ordered: over io_uring one linked WRITE→FSYNC submission. The
   * datasync never runs when the write failed.
   */
  readonly writeAtThenDatasync: (
    handle: Handle,
    bytes: Uint8Array,
    offsetBytes: number,
  ) => Effect.Effect<void, IoError.IoError>
  /**
   * Optional: one write that is durable when it completes (RWF_DSYNC), where the layer can issue
   * one. It covers only its own bytes and the metadata needed to read them back: unlike
   * `writeAtThenDatasync` it makes nothing written earlier durable (on a device with FUA the
   * kernel flushes nothing else). Absent where the layer cannot (Node's `fs.write` takes no
   * flags): callers then use `writeAtThenDatasync`.
   */
  readonly writeAtDsync?: (
    handle: Handle,
    bytes: Uint8Array,
    offsetBytes: number,
  ) => Effect.Effect<void, IoError.IoError>
  readonly readAt: (handle: Handle, into: Uint8Array, offsetBytes: number) => Effect.Effect<number, IoError.IoError>
  readonly datasync: (handle: Handle) => Effect.Effect<void, IoError.IoError>
  readonly sync: (handle: Handle) => Effect.Effect<void, IoError.IoError>
  readonly syncDirectory: (directoryPath: string) => Effect.Effect<void, IoError.IoError>
  readonly truncate: (handle: Handle, sizeBytes: number) => Effect.Effect<void, IoError.IoError>
  /**
   * fallocate: reserves blocks for `[offset, offset + length)`. `"keepSize"` (the default,
   * FALLOC_FL_KEEP_SIZE) leaves the size alone; `"extend"` (mode 0) also grows the file, the new
   * range reading as zeros, with no data written. May fail `NotSupported`.
   */
  readonly allocate: (
    handle: Handle,
    offsetBytes: number,
    lengthBytes: number,
    mode?: AllocateMode,
  ) => Effect.Effect<void, IoError.IoError>
  /**
   * Starts writeback of the range's dirty page-cache pages and waits for nothing
   * (sync_file_range with SYNC_FILE_RANGE_WRITE): a later `datasync` then finds them on their way
   * to the device instead of writing them all at once. A hint, not a barrier: it promises nothing
   * about durability and reports no writeback error (the next `datasync` does). Optional: a
   * layer without it (or without page cache, as under O_DIRECT) simply has nothing to start, and
   * callers skip it.
   *
   * @since 0.2.0
   */
  readonly startWriteback?: (
    handle: Handle,
    offsetBytes: number,
    lengthBytes: number,
  ) => Effect.Effect<void, IoError.IoError>
  readonly size: (handle: Handle) => Effect.Effect<number, IoError.IoError>
  /** Exclusive advisory lock, non-blocking: fails with reason `Busy` when another holder has it. */
  readonly lock: (handle: Handle) => Effect.Effect<void, IoError.IoError>
  /**
   * The Direct-IO alignment for the file behind `handle` (asked after the file exists: fsys bug
   * FS-J7). Node and io_uring: statx `STATX_DIOALIGN` and the device's sysfs block sizes; the
   * simulated disk: its configuration. Unknown facts fall back to the logical block size, then
   * 4096; it fails only when the handle is not open.
   */
  readonly directAlignment: (handle: Handle) => Effect.Effect<DirectAlignment, IoError.IoError>
  /** Removes a file (used for leftovers such as a failed sidecar). */
  readonly remove: (path: string) => Effect.Effect<void, IoError.IoError>
  /**
   * rename(2): moves `fromPath` to `toPath`, atomically replacing `toPath` if it exists (a reader
   * sees the old or the new file, never neither). Like a new file's name, the change is durable
   * only after `syncDirectory` of the directories involved; a power cut before that may undo it.
   */
  readonly rename: (fromPath: string, toPath: string) => Effect.Effect<void, IoError.IoError>
  /** The names of the entries in a directory (no `.`/`..`), sorted; ENOENT when it is missing. */
  readonly listDirectory: (directoryPath: string) => Effect.Effect<ReadonlyArray<string>, IoError.IoError>
  /**
   * mkdir(2) (mode 0o755): true when this call created the directory, false when it already
   * existed. A new directory's name is durable after `syncDirectory` of its parent.
   */
  readonly makeDirectory: (directoryPath: string) => Effect.Effect<boolean, IoError.IoError>
  /** Aligned memory for Direct IO, freed when the Scope closes (after any IO on it completed). */
  readonly allocateAligned: (
    byteLength: number,
    alignmentBytes: number,
  ) => Effect.Effect<AlignedBuffer, IoError.IoError, Scope.Scope>
  /**
   * Pins buffers for fixed-buffer IO (io_uring WRITE_FIXED) until the Scope closes; a no-op on
   * layers without it. Must be called after the buffers are allocated, in an inner Scope, so the
   * registration is released before the buffers are freed. Fixed buffers are an optimisation: a
   * layer whose kernel refuses them (RLIMIT_MEMLOCK, a full table) runs the same IO unregistered
   * and says so in the `Registration` (layers without fixed buffers: `notRegistered`).
   */
  readonly registerBuffers: (
    buffers: ReadonlyArray<AlignedBuffer>,
  ) => Effect.Effect<Registration, IoError.IoError, Scope.Scope>
}

/**
 * What `registerBuffers` did.
 *
 * @since 0.1.0
 * @category models
 */
export interface Registration {
  /** True when IO on the buffers uses them as registered (fixed) buffers. */
  readonly fixed: boolean
  /** What an operator should know (e.g. why the kernel refused), or `""`; see `Journal.info`. */
  readonly reason: string
}

/**
 * The `Registration` of a layer without fixed buffers (nothing to say).
 *
 * @since 0.1.0
 * @category constants
 */
export const notRegistered: Registration = { fixed: false, reason: "" }

let nodeService: FileIoService | undefined

/**
 * The process-wide Node (pwrite) service: the default when no FileIo layer is provided.
 *
 * @since 0.1.0
 * @category constructors
 */
export const nodeDefault = (): FileIoService => {
  if (nodeService === undefined) nodeService = makeNode()
  return nodeService
}

/**
 * The FileIo service. A `Context.Reference`: without a layer it is the Node (pwrite) service, so
 * `Journal.open` needs nothing but a Scope; provide `FileIoAuto.layer`, `IoUringFileIo.layer` or
 * the testkit's `SimulatedDisk` layer to change it.
 *
 * Why the signatures do not name it: a Reference always has a value, so to the type checker it
 * is never a requirement (`R` of an Effect that reads it stays `never`) and a layer that sets it
 * provides nothing (`Layer<never, E>`). A requirement the compiler never checks would only look
 * like one, so no signature names it; the doc comment of each function that reads the ambient
 * service says so. Making it a required service instead would put a layer in front of every
 * `Journal.open` for the one default nearly everyone wants.
 *
 * @since 0.1.0
 * @category services
 */
export const FileIo: Context.Reference<FileIoService> = Context.Reference<FileIoService>("@fsys/core/FileIo", {
  defaultValue: nodeDefault,
})

/**
 * 0.1.0 named the ambient FileIo as a requirement with this type; it is `never` to the compiler
 * (see {@link FileIo}), so signatures no longer name it.
 *
 * @deprecated Drop it from signatures: `Effect<A, E, FileIo.FileIo>` is `Effect<A, E>`.
 * @since 0.1.0
 * @category services
 */
export type FileIo = never
