/**
 * `open` for the Node layer: flags, "did this open create the file", O_DIRECT refusal, directories.
 *
 * Creating and Direct are done in two opens on purpose. On a filesystem that refuses O_DIRECT
 * (tmpfs, FUSE…), `open(O_CREAT | O_DIRECT)` creates the file *and then* fails `EINVAL`; the
 * journal falls back to a buffered open, which would find the file existing and report
 * `created: false`, so the new directory entry would never be fsynced. Here the file is created
 * with a buffered `O_CREAT | O_EXCL` open (which tells us we created it), reopened with O_DIRECT,
 * and when that is refused the empty file we just created is removed again: a refused open
 * changes nothing on disk.
 *
 * @internal
 */
import * as NodeFs from "node:fs"
import { IoError } from "@fsys/native"

/** create ⇄ "already exists" ⇄ "deleted meanwhile" races are retried at most this many times. */
export const OPEN_ATTEMPTS_MAX = 4
/** Mode of files this layer creates (before umask). */
export const CREATE_MODE = 0o644

export interface Opened {
  readonly fd: number
  readonly created: boolean
}

const { O_RDONLY, O_RDWR, O_CREAT, O_EXCL, O_DIRECT } = NodeFs.constants

const fail = (error: unknown, syscall: string, path: string): IoError.IoError =>
  IoError.fromNodeError(error, syscall, path)

/** Closes `fd` (ignoring a close error: the reported failure is the one that matters) then reports. */
const closeThen = (fd: number, then: () => void): void => NodeFs.close(fd, () => then())

/** Rejects directories (a read-only open of one succeeds) so a reader never scans one. */
const rejectDirectory = (
  fd: number,
  created: boolean,
  path: string,
  done: (error: IoError.IoError | undefined, opened: Opened | undefined) => void,
): void =>
  NodeFs.fstat(fd, (error, stats) => {
    if (error !== null) return closeThen(fd, () => done(fail(error, "fstat", path), undefined))
    if (stats.isDirectory()) return closeThen(fd, () => done(IoError.fromErrno("EISDIR", "open", path), undefined))
    done(undefined, { fd, created })
  })

/** Opens `path` as asked; on success the caller owns `fd`. */
export const openPath = (
  path: string,
  options: { readonly create: boolean; readonly direct: boolean; readonly readOnly: boolean },
  done: (error: IoError.IoError | undefined, opened: Opened | undefined) => void,
): void => {
  const access = options.readOnly ? O_RDONLY : O_RDWR
  const flags = options.direct ? access | O_DIRECT : access

  const openExisting = (attempt: number): void =>
    NodeFs.open(path, flags, (error, fd) => {
      if (error === null) return rejectDirectory(fd, false, path, done)
      // Removed between our O_EXCL create failing and this open: try creating again.
      if (options.create && error.code === "ENOENT" && attempt < OPEN_ATTEMPTS_MAX) return create(attempt + 1)
      done(fail(error, "open", path), undefined)
    })

  const create = (attempt: number): void =>
    NodeFs.open(path, access | O_CREAT | O_EXCL, CREATE_MODE, (error, createdFd) => {
      if (error !== null) {
        if (error.code === "EEXIST" && attempt < OPEN_ATTEMPTS_MAX) return openExisting(attempt + 1)
        return done(fail(error, "open", path), undefined)
      }
      if (!options.direct) return rejectDirectory(createdFd, true, path, done)
      NodeFs.open(path, flags, (directError, directFd) => {
        closeThen(createdFd, () => {
          if (directError === null) return rejectDirectory(directFd, true, path, done)
          // Undo our create so the fallback open creates (and reports) it again.
          NodeFs.unlink(path, () => done(fail(directError, "open", path), undefined))
        })
      })
    })

  if (options.create) create(1)
  else openExisting(1)
}
