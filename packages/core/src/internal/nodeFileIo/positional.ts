/**
 * The Node layer's single positional calls, for the shared loop in `../positional.ts`.
 *
 * Two kinds, chosen by the memory: ordinary JS memory goes through `node:fs` (libuv retries EINTR
 * itself); memory from `AlignedMemory` (the Direct-IO slots) goes through `Libc.pwrite`/`pread`,
 * because `AlignedMemory` frees its memory only after every IO that retained the allocation has
 * finished (fsys bug FS-C2), and `Libc`'s calls do that retaining; `fs.write` cannot. The caller
 * runs the loop uninterruptibly with the fd pinned (`onFileEffect` in `make.ts`), so an
 * interrupted fiber waits for the thread before the Scope may close the fd.
 *
 * @internal
 */
import * as NodeFs from "node:fs"
import { Effect } from "effect"
import { AlignedMemory, IoError, Libc } from "@fsys/native"
import type { Call } from "../positional.ts"

/** How the Node layer's callback-style operations report (`onFile` in `make.ts`). */
export type Done<A> = (error: IoError.IoError | undefined, value: A) => void

const nodeWrite =
  (fd: number, path: string): Call =>
  (chunk, offsetBytes) =>
    Effect.callback<number, IoError.IoError>((resume) => {
      NodeFs.write(fd, chunk, 0, chunk.byteLength, offsetBytes, (error, count) =>
        resume(error === null ? Effect.succeed(count) : Effect.fail(IoError.fromNodeError(error, "pwrite", path))),
      )
    })

const nodeRead =
  (fd: number, path: string): Call =>
  (chunk, offsetBytes) =>
    Effect.callback<number, IoError.IoError>((resume) => {
      NodeFs.read(fd, chunk, 0, chunk.byteLength, offsetBytes, (error, count) =>
        resume(error === null ? Effect.succeed(count) : Effect.fail(IoError.fromNodeError(error, "pread", path))),
      )
    })

/** One pwrite of `bytes`' kind of memory on `fd`. */
export const writeCall = (bytes: Uint8Array, fd: number, path: string): Call =>
  AlignedMemory.isNative(bytes)
    ? (chunk, offsetBytes) => Libc.pwrite(fd, chunk, offsetBytes, path)
    : nodeWrite(fd, path)

/** One pread into `into`'s kind of memory on `fd`. */
export const readCall = (into: Uint8Array, fd: number, path: string): Call =>
  AlignedMemory.isNative(into) ? (chunk, offsetBytes) => Libc.pread(fd, chunk, offsetBytes, path) : nodeRead(fd, path)
