/**
 * Directory operations of one boot: `remove`, `rename` (linked into a rename group, so a crash
 * keeps the file under exactly one name), `listDirectory` and `makeDirectory`. Each changes only
 * the visible names; `syncDirectory` (durability.ts) makes the changes durable.
 *
 * @since 0.1.0
 */
import { posix } from "node:path"
import { Effect } from "effect"
import { IoError } from "@fsys/native"
import { type Boot, injected } from "./boot.ts"
import { errorOf } from "./dispatch.ts"
import { directoryExists, linkRename, normalizePath } from "./state.ts"

export const remove = (boot: Boot) => (pathInput: string) =>
  Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
    const path = normalizePath(pathInput)
    if (boot.state.boot !== boot.ownBoot) return Effect.fail(boot.powerIsGone("unlink", path))
    return boot.withFaults("remove", "unlink", path, undefined, (fired) => {
      const failure = errorOf(fired)
      if (failure !== undefined) return Effect.fail(injected(failure, "unlink", path))
      if (!boot.state.names.delete(path)) return Effect.fail(IoError.fromErrno("ENOENT", "unlink", path))
      return Effect.void
    })
  })

export const rename = (boot: Boot) => (fromInput: string, toInput: string) =>
  Effect.suspend((): Effect.Effect<void, IoError.IoError> => {
    const state = boot.state
    const from = normalizePath(fromInput)
    const to = normalizePath(toInput)
    if (state.boot !== boot.ownBoot) return Effect.fail(boot.powerIsGone("rename", from))
    return boot.withFaults("rename", "rename", from, undefined, (fired) => {
      const failure = errorOf(fired)
      if (failure !== undefined) return Effect.fail(injected(failure, "rename", from))
      const inode = state.names.get(from)
      if (inode === undefined) return Effect.fail(IoError.fromErrno("ENOENT", "rename", from))
      if (!directoryExists(state, posix.dirname(to))) return Effect.fail(IoError.fromErrno("ENOENT", "rename", to))
      if (state.directories.has(to)) return Effect.fail(IoError.fromErrno("EISDIR", "rename", to))
      if (from === to) return Effect.void
      state.names.set(to, inode)
      state.names.delete(from)
      linkRename(state, [from, to])
      return Effect.void
    })
  })

export const listDirectory = (boot: Boot) => (directoryInput: string) =>
  Effect.suspend((): Effect.Effect<ReadonlyArray<string>, IoError.IoError> => {
    const state = boot.state
    const directory = normalizePath(directoryInput)
    if (state.boot !== boot.ownBoot) return Effect.fail(boot.powerIsGone("readdir", directory))
    return boot.withFaults("list", "readdir", directory, undefined, (fired) => {
      const failure = errorOf(fired)
      if (failure !== undefined) return Effect.fail(injected(failure, "readdir", directory))
      if (!directoryExists(state, directory)) {
        if (state.names.has(directory)) return Effect.fail(IoError.fromErrno("ENOTDIR", "readdir", directory))
        return Effect.fail(IoError.fromErrno("ENOENT", "readdir", directory))
      }
      const entries = new Set<string>()
      for (const path of [...state.names.keys(), ...state.directories]) {
        if (path !== directory && posix.dirname(path) === directory) entries.add(posix.basename(path))
      }
      return Effect.succeed([...entries].sort())
    })
  })

export const makeDirectory = (boot: Boot) => (directoryInput: string) =>
  Effect.suspend((): Effect.Effect<boolean, IoError.IoError> => {
    const state = boot.state
    const directory = normalizePath(directoryInput)
    if (state.boot !== boot.ownBoot) return Effect.fail(boot.powerIsGone("mkdir", directory))
    return boot.withFaults("mkdir", "mkdir", directory, undefined, (fired) => {
      const failure = errorOf(fired)
      if (failure !== undefined) return Effect.fail(injected(failure, "mkdir", directory))
      if (directoryExists(state, directory)) {
        state.directories.add(directory)
        return Effect.succeed(false)
      }
      if (state.names.has(directory)) return Effect.fail(IoError.fromErrno("EEXIST", "mkdir", directory))
      if (!directoryExists(state, posix.dirname(directory))) {
        return Effect.fail(IoError.fromErrno("ENOENT", "mkdir", directory))
      }
      state.directories.add(directory)
      return Effect.succeed(true)
    })
  })
