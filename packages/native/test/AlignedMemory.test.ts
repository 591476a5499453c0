import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import { AlignedMemory } from "@fsys/native"

describe("AlignedMemory", () => {
  it.effect("allocates zeroed memory at the requested alignment", () =>
    Effect.gen(function* () {
      for (const alignment of [512, 4096, 65536]) {
        const buffer = yield* AlignedMemory.allocate(3 * alignment, alignment)
        assert.strictEqual(buffer.address % BigInt(alignment), 0n)
        assert.strictEqual(buffer.byteLength, 3 * alignment)
        assert.strictEqual(buffer.bytes.byteLength, 3 * alignment)
        assert.isTrue(buffer.bytes.every((byte) => byte === 0))
        assert.isTrue(AlignedMemory.isNative(buffer.bytes))
        assert.isTrue(AlignedMemory.isNative(buffer.bytes.subarray(10)))
      }
    }),
  )

  it.effect("frees exactly once when the Scope closes and detaches every view", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const buffer = yield* Scope.provide(AlignedMemory.allocate(8192, 4096), scope)
      const sub = buffer.bytes.subarray(4096)
      buffer.bytes.fill(1)
      yield* Scope.close(scope, Exit.void)
      // The memory is gone: views read nothing instead of touching freed memory.
      assert.strictEqual(buffer.bytes.byteLength, 0)
      assert.strictEqual(sub.byteLength, 0)
      assert.strictEqual(buffer.bytes[0], undefined)
      assert.isFalse(AlignedMemory.isNative(buffer.bytes))
    }),
  )

  it.live("a hold (IO run outside this package) keeps the memory until it is released", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const buffer = yield* Scope.provide(AlignedMemory.allocate(4096, 4096), scope)
      const release = AlignedMemory.hold(buffer.bytes.subarray(512))
      assert.isDefined(release)
      assert.strictEqual(AlignedMemory.inFlightCount(buffer.bytes), 1)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      for (let i = 0; i < 5; i++) yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
      assert.isTrue(AlignedMemory.isNative(buffer.bytes), "not freed while held")
      release!()
      release!() // idempotent: one hold, one release
      yield* Fiber.join(closing)
      assert.isFalse(AlignedMemory.isNative(buffer.bytes))
      assert.isUndefined(AlignedMemory.hold(buffer.bytes), "freed memory cannot be held")
      assert.isUndefined(AlignedMemory.hold(new Uint8Array(8)), "JS memory has nothing to hold")
    }),
  )

  it.effect("is released when the Scope fails too", () =>
    Effect.gen(function* () {
      let bytes: Uint8Array | undefined
      const exit = yield* Effect.exit(
        Effect.scoped(
          Effect.gen(function* () {
            const buffer = yield* AlignedMemory.allocate(4096, 512)
            bytes = buffer.bytes
            return yield* Effect.fail("boom")
          }),
        ),
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(bytes?.byteLength, 0)
    }),
  )

  it.effect("refuses bad sizes and alignments with InvalidArgument", () =>
    Effect.gen(function* () {
      for (const [length, alignment] of [
        [0, 4096],
        [-1, 4096],
        [1.5, 4096],
        [AlignedMemory.BYTES_MAX + 1, 4096],
        [4096, 3],
        [4096, 4],
        [4096, AlignedMemory.ALIGNMENT_MAX * 2],
      ] as const) {
        const exit = yield* Effect.exit(Effect.scoped(AlignedMemory.allocate(length, alignment)))
        assert.isTrue(Exit.isFailure(exit), `${length}/${alignment}`)
        if (Exit.isFailure(exit)) {
          const reason = exit.cause.reasons[0]
          assert.strictEqual(reason?._tag, "Fail")
          if (reason?._tag === "Fail") assert.strictEqual(reason.error.reason, "InvalidArgument")
        }
      }
    }),
  )
})
