/**
 * One ring, several callers: registered-buffer tables shared by several registrations, and
 * linked write→fsync pairs that the kernel accepts only in part.
 */
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { AlignedMemory, type IoError, IoUring, Libc } from "@fsys/native"
import { openFd, readFile, tempDir } from "./helpers.ts"

const KiB = 1024

const typedFailure = <A>(exit: Exit.Exit<A, IoError.IoError>): IoError.IoError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (reason === undefined || reason._tag !== "Fail") throw new Error(`expected a typed failure: ${exit.cause}`)
  return reason.error
}

describe("IoUring, shared by several callers", () => {
  it.live("several registrations on one ring: each caller's buffers are WRITE_FIXED, released on its own", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const fd = yield* openFd(NodePath.join(dir, "shared"), Libc.O_RDWR | Libc.O_CREAT | Libc.O_DIRECT)
      const ring = yield* IoUring.make({ entries: 8 })
      const callers = 5
      const slots = yield* Effect.forEach(Array.from({ length: callers * 2 }), () =>
        AlignedMemory.allocate(8 * KiB, 4096),
      )
      const scopes = yield* Effect.forEach(Array.from({ length: callers }), () => Scope.make())
      for (let caller = 0; caller < callers; caller++) {
        const pair = [slots[2 * caller]!, slots[2 * caller + 1]!]
        yield* Scope.provide(IoUring.registerBuffers(ring, pair), scopes[caller]!)
      }
      const before = ring.stats().fixedSqes
      for (let i = 0; i < slots.length; i++) {
        slots[i]!.bytes.fill(i + 1)
        yield* IoUring.write(ring, fd, slots[i]!.bytes, i * 8 * KiB)
      }
      assert.strictEqual(ring.stats().fixedSqes - before, slots.length, "every caller's slots are fixed")
      // The first caller leaves; the others keep their registration.
      yield* Scope.close(scopes[0]!, Exit.void)
      const afterFirst = ring.stats().fixedSqes
      yield* IoUring.write(ring, fd, slots[0]!.bytes, 0)
      yield* IoUring.write(ring, fd, slots[2]!.bytes, 2 * 8 * KiB)
      assert.strictEqual(ring.stats().fixedSqes - afterFirst, 1, "only the remaining caller's slot is fixed")
      // Its table entries are free again for a newcomer.
      const newcomer = yield* AlignedMemory.allocate(8 * KiB, 4096)
      yield* IoUring.registerBuffers(ring, [newcomer])
      const bytes = yield* readFile(NodePath.join(dir, "shared"))
      for (let i = 0; i < slots.length; i++) assert.strictEqual(bytes[i * 8 * KiB], i + 1)
      for (const scope of scopes.slice(1)) yield* Scope.close(scope, Exit.void)
      assert.isTrue(IoUring.hasRegisteredBuffers(ring), "the newcomer's registration stays")
    }),
  )

  it.live("a kernel without sparse tables (< 5.19): one registration per ring, later ones refused Busy", () =>
    Effect.gen(function* () {
      const ring = yield* IoUring.make({ entries: 4, seams: { sparseBuffers: false } })
      const a = yield* AlignedMemory.allocate(4 * KiB, 4096)
      const b = yield* AlignedMemory.allocate(4 * KiB, 4096)
      const first = yield* Scope.make()
      yield* Scope.provide(IoUring.registerBuffers(ring, [a]), first)
      const refused = typedFailure(yield* Effect.exit(Effect.scoped(IoUring.registerBuffers(ring, [b]))))
      assert.strictEqual(refused.reason, "Busy")
      yield* Scope.close(first, Exit.void)
      assert.isFalse(IoUring.hasRegisteredBuffers(ring))
      yield* Effect.scoped(IoUring.registerBuffers(ring, [b]))
    }),
  )

  it.live("a linked write→fsync split by a partial submission reports synced: false (no unordered fsync)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "split")
      const fd = yield* openFd(path, Libc.O_RDWR | Libc.O_CREAT)
      // The kernel is handed one SQE per io_uring_enter: it consumes the WRITE of the pair alone.
      const ring = yield* IoUring.make({ entries: 4, seams: { submitCount: () => 1 } })
      const bytes = new TextEncoder().encode("split pair")
      const result = yield* IoUring.writeThenFsync(ring, fd, bytes, 0)
      assert.deepStrictEqual(result, { writtenBytes: bytes.byteLength, synced: false })
      assert.strictEqual(ring.stats().linkSplits, 1)
      assert.strictEqual(new TextDecoder().decode(yield* readFile(path)), "split pair")
      // A pair handed over whole is still one ordered submission.
      const whole = yield* IoUring.make({ entries: 4 })
      assert.deepStrictEqual(yield* IoUring.writeThenFsync(whole, fd, bytes, 0), {
        writtenBytes: bytes.byteLength,
        synced: true,
      })
      assert.strictEqual(whole.stats().linkSplits, 0)
    }),
  )
})
