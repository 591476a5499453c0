/**
 * statx(2), decoded: the file facts the capability probe and the FileIo layers need, including
 * the Direct-IO alignment the filesystem demands (`STATX_DIOALIGN`, Linux 6.1+), which is what a
 * Direct journal must align to (fsys used `statfs` f_bsize, which is not the same thing).
 *
 * statx may read an inode from the disk, so it runs off-thread. Fields the kernel did not fill
 * (its `mask` lacks the bit) are `undefined`, never a made-up number.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type * as IoError from "./IoError.ts"
import * as Libc from "./Libc.ts"

/** @since 0.1.0 @category constants */
export const STATX_TYPE = 0x1
/** @since 0.1.0 @category constants */
export const STATX_MODE = 0x2
/** @since 0.1.0 @category constants */
export const STATX_SIZE = 0x200
/** @since 0.1.0 @category constants */
export const STATX_BLOCKS = 0x400
/** @since 0.1.0 @category constants */
export const STATX_BASIC_STATS = 0x7ff
/** @since 0.1.0 @category constants */
export const STATX_MNT_ID = 0x1000
/** @since 0.1.0 @category constants */
export const STATX_DIOALIGN = 0x2000

/** Size of `struct statx` (the kernel ABI reserves 256 bytes). */
const STATX_BYTES = 256

const S_IFMT = 0o170000

/**
 * @since 0.1.0
 * @category models
 */
export interface Statx {
  /** Which fields the kernel filled (`STATX_*` bits). */
  readonly mask: number
  /** Preferred IO block size of the filesystem (st_blksize). */
  readonly blockSizeBytes: number
  readonly mode: number
  readonly isRegularFile: boolean
  readonly isDirectory: boolean
  readonly isBlockDevice: boolean
  readonly sizeBytes: number
  /** 512-byte blocks allocated. */
  readonly blocks: number
  readonly inode: bigint
  /** The device holding the file (st_dev). */
  readonly devMajor: number
  readonly devMinor: number
  /** The device a block/char special file stands for (st_rdev). */
  readonly rdevMajor: number
  readonly rdevMinor: number
  readonly mountId: bigint | undefined
  /** Direct IO: required alignment of the memory buffer, or undefined when not reported. */
  readonly dioMemAlign: number | undefined
  /** Direct IO: required alignment of file offsets and lengths, or undefined when not reported. */
  readonly dioOffsetAlign: number | undefined
}

/**
 * Decodes a filled `struct statx` (offsets from `include/uapi/linux/stat.h`).
 *
 * @since 0.1.0
 * @category utils
 */
export const decode = (raw: Uint8Array): Statx => {
  const view = new DataView(raw.buffer, raw.byteOffset, STATX_BYTES)
  const mask = view.getUint32(0, true)
  const mode = view.getUint16(28, true)
  const format = mode & S_IFMT
  // The kernel sets STATX_DIOALIGN in the mask with zeros when Direct IO is unsupported.
  const dioMem = view.getUint32(152, true)
  const dioOffset = view.getUint32(156, true)
  const hasDio = (mask & STATX_DIOALIGN) !== 0
  return {
    mask,
    blockSizeBytes: view.getUint32(4, true),
    mode,
    isRegularFile: format === 0o100000,
    isDirectory: format === 0o040000,
    isBlockDevice: format === 0o060000,
    sizeBytes: Number(view.getBigUint64(40, true)),
    blocks: Number(view.getBigUint64(48, true)),
    inode: view.getBigUint64(32, true),
    rdevMajor: view.getUint32(128, true),
    rdevMinor: view.getUint32(132, true),
    devMajor: view.getUint32(136, true),
    devMinor: view.getUint32(140, true),
    mountId: (mask & STATX_MNT_ID) !== 0 ? view.getBigUint64(144, true) : undefined,
    dioMemAlign: hasDio && dioMem > 0 ? dioMem : undefined,
    dioOffsetAlign: hasDio && dioOffset > 0 ? dioOffset : undefined,
  }
}

const MASK = STATX_BASIC_STATS | STATX_MNT_ID | STATX_DIOALIGN

/**
 * statx of a path (following symlinks unless `followSymlinks: false`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const path = (
  filePath: string,
  options?: { readonly followSymlinks?: boolean },
): Effect.Effect<Statx, IoError.IoError> => {
  const raw = new Uint8Array(STATX_BYTES)
  const flags = options?.followSymlinks === false ? Libc.AT_SYMLINK_NOFOLLOW : 0
  return Effect.map(Libc.statxInto(Libc.AT_FDCWD, filePath, flags, MASK, raw), () => decode(raw))
}

/**
 * statx of an open descriptor (`AT_EMPTY_PATH`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fd = (descriptor: number): Effect.Effect<Statx, IoError.IoError> => {
  const raw = new Uint8Array(STATX_BYTES)
  return Effect.map(Libc.statxInto(descriptor, "", Libc.AT_EMPTY_PATH, MASK, raw), () => decode(raw))
}
