/**
 * The directory operations of the FileIo port (rename, listDirectory, makeDirectory) on the Node
 * layer and, when the kernel allows a ring, the io_uring layer (which delegates them to Node).
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { type FileIo, IoUringFileIo, NodeFileIo } from "@fsys/core"
import { IoError } from "@fsys/native"

const tempDirectory = Effect.acquireRelease(
  Effect.promise(() => NodeFs.promises.mkdtemp(NodePath.join(NodeOs.tmpdir(), "fsys-dirops-"))),
  (directory) => Effect.promise(() => NodeFs.promises.rm(directory, { recursive: true, force: true })),
)

const reasonOf = (exit: Exit.Exit<unknown, IoError.IoError>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  return failure?._tag === "Fail" && failure.error instanceof IoError.IoError ? failure.error.reason : "other"
}

const suite = (io: FileIo.FileIoService) =>
  Effect.gen(function* () {
    const root = yield* tempDirectory
    const directory = NodePath.join(root, "d")
    assert.isTrue(yield* io.makeDirectory(directory))
    assert.isFalse(yield* io.makeDirectory(directory))
    assert.deepStrictEqual(yield* io.listDirectory(directory), [])
    NodeFs.writeFileSync(NodePath.join(directory, "b"), "old")
    NodeFs.writeFileSync(NodePath.join(directory, "a"), "new")
    assert.deepStrictEqual(yield* io.listDirectory(directory), ["a", "b"])
    yield* io.rename(NodePath.join(directory, "a"), NodePath.join(directory, "b"))
    yield* io.syncDirectory(directory)
    assert.deepStrictEqual(yield* io.listDirectory(directory), ["b"])
    assert.strictEqual(NodeFs.readFileSync(NodePath.join(directory, "b"), "utf8"), "new")
    assert.strictEqual(reasonOf(yield* Effect.exit(io.listDirectory(NodePath.join(root, "missing")))), "NotFound")
    assert.strictEqual(
      reasonOf(yield* Effect.exit(io.rename(NodePath.join(directory, "a"), NodePath.join(directory, "c")))),
      "NotFound",
    )
    assert.strictEqual(reasonOf(yield* Effect.exit(io.makeDirectory(NodePath.join(directory, "b")))), "NotDirectory")
  }).pipe(Effect.scoped)

describe("FileIo directory operations", () => {
  it.live("Node: makeDirectory, listDirectory, rename (replacing), typed errors", () => suite(NodeFileIo.make()))

  it.live("io_uring: the same operations, delegated to the Node layer", () =>
    Effect.gen(function* () {
      const ring = yield* Effect.exit(IoUringFileIo.make())
      // Without io_uring (seccomp, old kernel) there is no ring layer to check; the Node suite covers the code.
      if (Exit.isFailure(ring)) return
      yield* suite(ring.value)
    }).pipe(Effect.scoped),
  )
})
