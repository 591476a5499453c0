/**
 * The one typed error every system call in fsys fails with.
 *
 * A failed `open`, `pwrite`, `fdatasync`, io_uring completion or `statx` becomes an `IoError` whose
 * `reason` comes from a closed set (modelled on Effect's `PlatformError`), carrying the syscall,
 * the errno code and the path or descriptor involved. `fromErrno` is the only place errno numbers
 * and Node error codes are mapped to reasons, so every layer (Node, io_uring, simulated) reports
 * the same failure the same way.
 *
 * @since 0.1.0
 */
import { Data } from "effect"

/**
 * Why a system call failed, as a closed set a caller can switch on.
 *
 * @since 0.1.0
 * @category models
 */
export type Reason =
  | "NotFound"
  | "PermissionDenied"
  | "AlreadyExists"
  | "Busy"
  | "NoSpace"
  | "InvalidArgument"
  | "IsDirectory"
  | "NotDirectory"
  | "BadDescriptor"
  | "Io"
  | "NotSupported"
  | "Interrupted"
  | "TooManyOpenFiles"
  | "ShortWrite"
  | "Unknown"

/**
 * A failed system call.
 *
 * @since 0.1.0
 * @category errors
 */
export class IoError extends Data.TaggedError("IoError")<{
  readonly reason: Reason
  /** The system call or operation that failed, e.g. `"fdatasync"`, `"io_uring:WRITE_FIXED"`. */
  readonly syscall: string
  /** errno name (`"EIO"`, `"ENOSPC"`…) or `"ESHORT"` for a write that made no progress. */
  readonly code: string
  readonly path: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.syscall} failed on ${this.path}: ${this.code} (${this.reason})`
  }
}

const errnoNames: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  16: "EBUSY",
  17: "EEXIST",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  27: "EFBIG",
  28: "ENOSPC",
  30: "EROFS",
  38: "ENOSYS",
  95: "EOPNOTSUPP",
  122: "EDQUOT",
  125: "ECANCELED",
}

const reasons: Record<string, Reason> = {
  EPERM: "PermissionDenied",
  EACCES: "PermissionDenied",
  EROFS: "PermissionDenied",
  ENOENT: "NotFound",
  EEXIST: "AlreadyExists",
  EBUSY: "Busy",
  EAGAIN: "Busy",
  EWOULDBLOCK: "Busy",
  ENOSPC: "NoSpace",
  EDQUOT: "NoSpace",
  EFBIG: "NoSpace",
  EINVAL: "InvalidArgument",
  EISDIR: "IsDirectory",
  ENOTDIR: "NotDirectory",
  EBADF: "BadDescriptor",
  EIO: "Io",
  ENOSYS: "NotSupported",
  EOPNOTSUPP: "NotSupported",
  ENOTSUP: "NotSupported",
  EINTR: "Interrupted",
  ECANCELED: "Interrupted",
  EMFILE: "TooManyOpenFiles",
  ENFILE: "TooManyOpenFiles",
  ESHORT: "ShortWrite",
}

/**
 * The errno name for a positive errno number (`5` → `"EIO"`), or `"E<n>"` when unknown.
 *
 * @since 0.1.0
 * @category utils
 */
export const errnoName = (errno: number): string => errnoNames[Math.abs(errno)] ?? `E${Math.abs(errno)}`

/**
 * Builds an `IoError` from an errno number (positive, or the negative `res` of an io_uring CQE)
 * or an errno name such as Node's `err.code`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromErrno = (errno: number | string, syscall: string, path: string, cause?: unknown): IoError => {
  const code = typeof errno === "number" ? errnoName(errno) : errno
  return new IoError({ reason: reasons[code] ?? "Unknown", syscall, code, path, cause })
}

/**
 * Builds an `IoError` from whatever a Node `fs` call threw or passed to its callback.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromNodeError = (error: unknown, syscall: string, path: string): IoError => {
  const code =
    typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
      ? error.code
      : "EUNKNOWN"
  return fromErrno(code, syscall, path, error)
}
