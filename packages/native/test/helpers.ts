/**
 * Test helpers: scoped temporary directories and files on the work disk (ext4 here).
 */
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Effect } from "effect"
import type * as Scope from "effect/Scope"
import { Libc } from "@fsys/native"

/** A fresh directory under the OS temp dir, removed with the Scope. */
export const tempDir = (prefix = "fsys-native-"): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => NodeFs.mkdtemp(NodePath.join(NodeOs.tmpdir(), prefix))),
    (dir) => Effect.promise(() => NodeFs.rm(dir, { recursive: true, force: true })),
  )

/** Opens `path` with `flags` (O_CLOEXEC added), closed with the Scope. */
export const openFd = (path: string, flags: number): Effect.Effect<number, unknown, Scope.Scope> =>
  Effect.acquireRelease(Libc.open(path, flags), (fd) => Effect.ignore(Libc.close(fd)))

export const readFile = (path: string): Effect.Effect<Uint8Array> =>
  Effect.promise(() => NodeFs.readFile(path)).pipe(Effect.map((buffer) => new Uint8Array(buffer)))
