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
  /** The file (or `fd <n>`) the call was about; `""` when it was about none (a ring, memory). */
  readonly path: string
  /** What was being done, in words (`"4 MiB aligned to 4096"`, `"2 buffers"`), when it helps. */
  readonly description?: string
  readonly cause?: unknown
}> {
  override get message(): string {
    const on = this.path === "" ? "" : ` on ${this.path}`
    const detail = this.description === undefined ? "" : ` — ${this.description}`
    return `${this.syscall} failed${on}: ${this.code} (${this.reason})${detail}`
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
  14: "EFAULT",
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
 * Builds an `IoError`: the one place an errno (a positive number, the negative `res` of an
 * io_uring CQE, or a name such as Node's `err.code`) becomes a `reason`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly errno: number | string
  readonly syscall: string
  readonly path?: string
  readonly description?: string
  readonly cause?: unknown
}): IoError => {
  const code = typeof options.errno === "number" ? errnoName(options.errno) : options.errno
  return new IoError({
    reason: reasons[code] ?? "Unknown",
    syscall: options.syscall,
    code,
    path: options.path ?? "",
    ...(options.description !== undefined ? { description: options.description } : {}),
    ...(options.cause !== undefined ? { cause: options.cause } : {}),
  })
}

/**
 * `make` in short: `detail` is a description when it is a string, else the underlying cause.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromErrno = (errno: number | string, syscall: string, path: string, detail?: unknown): IoError =>
  typeof detail === "string"
    ? make({ errno, syscall, path, description: detail })
    : make({ errno, syscall, path, cause: detail })

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
