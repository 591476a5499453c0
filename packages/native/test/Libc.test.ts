import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { AlignedMemory, Libc } from "@fsys/native"
import { openFd, readFile, tempDir } from "./helpers.ts"

const failure = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  if (error === undefined || error._tag !== "Fail") throw new Error(`expected a typed failure, got ${exit.cause}`)
  return error.error
}

describe("Libc", () => {
  it.live("open/pwrite/pread/fdatasync/fsync/ftruncate/fallocate/close round-trip a file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "a.bin")
      const fd = yield* openFd(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL)
      const payload = new TextEncoder().encode("hello, libc")
      assert.strictEqual(yield* Libc.pwrite(fd, payload, 100), payload.length)
      yield* Libc.fdatasync(fd)
      yield* Libc.fsync(fd)
      const into = new Uint8Array(payload.length)
      assert.strictEqual(yield* Libc.pread(fd, into, 100), payload.length)
      assert.deepStrictEqual(into, payload)
      assert.strictEqual(yield* Libc.pread(fd, new Uint8Array(8), 10_000), 0, "0 at end of file")
      yield* Libc.ftruncate(fd, 50)
      assert.strictEqual(NodeFs.statSync(path).size, 50)
      // KEEP_SIZE reserves blocks without growing the file.
      yield* Libc.fallocate(fd, Libc.FALLOC_FL_KEEP_SIZE, 0, 1 << 20)
      const stat = NodeFs.statSync(path)
      assert.strictEqual(stat.size, 50)
      assert.isAtLeast(stat.blocks * 512, 1 << 20)
      const bytes = yield* readFile(path)
      assert.strictEqual(bytes.length, 50)
    }),
  )

  it.live("errno becomes a typed IoError with the syscall and code", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const missing = failure(yield* Effect.exit(Libc.open(NodePath.join(dir, "nope"), Libc.O_RDONLY)))
      assert.strictEqual(missing.syscall, "open")
      assert.strictEqual(missing.code, "ENOENT")
      assert.strictEqual(missing.reason, "NotFound")
      // An fd number far above any limit is never open.
      const bad = failure(yield* Effect.exit(Libc.pwrite(1_000_000, new Uint8Array(1), 0)))
      assert.strictEqual(bad.code, "EBADF")
      assert.strictEqual(bad.syscall, "pwrite")
      const exists = NodePath.join(dir, "x")
      NodeFs.writeFileSync(exists, "x")
      const excl = failure(yield* Effect.exit(Libc.open(exists, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL)))
      assert.strictEqual(excl.reason, "AlreadyExists")
      const range = failure(yield* Effect.exit(Libc.ftruncate(1_000_000, -1)))
      assert.strictEqual(range.reason, "InvalidArgument")
    }),
  )

  it.live("flock LOCK_EX|LOCK_NB: a second open file description gets Busy until the first unlocks", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "lock")
      const first = yield* openFd(path, Libc.O_RDWR | Libc.O_CREAT)
      const second = yield* openFd(path, Libc.O_RDWR)
      yield* Libc.flock(first, Libc.LOCK_EX | Libc.LOCK_NB)
      const busy = failure(yield* Effect.exit(Libc.flock(second, Libc.LOCK_EX | Libc.LOCK_NB)))
      assert.strictEqual(busy.reason, "Busy")
      assert.strictEqual(busy.syscall, "flock")
      yield* Libc.flock(first, Libc.LOCK_UN | Libc.LOCK_NB)
      yield* Libc.flock(second, Libc.LOCK_EX | Libc.LOCK_NB)
      // The blocking form runs off-thread and succeeds once the lock is free.
      yield* Libc.flock(second, Libc.LOCK_UN)
      yield* Libc.flock(first, Libc.LOCK_EX)
    }),
  )

  it.live("O_DIRECT pwrite from posix_memalign'd memory; an unaligned offset is refused with EINVAL", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const fd = yield* openFd(NodePath.join(dir, "direct"), Libc.O_RDWR | Libc.O_CREAT | Libc.O_DIRECT)
      const buffer = yield* AlignedMemory.allocate(4096, 4096)
      buffer.bytes.fill(0xab)
      assert.strictEqual(yield* Libc.pwrite(fd, buffer.bytes, 0), 4096)
      // (Linux 6.x here accepts misaligned *memory* despite statx's dio_mem_align; offsets and
      // lengths are enforced.)
      const misaligned = failure(yield* Effect.exit(Libc.pwrite(fd, buffer.bytes.subarray(0, 512), 100)))
      assert.strictEqual(misaligned.code, "EINVAL")
    }),
  )

  it.live("posix_memalign/free, mmap/munmap work synchronously; unlink removes", () =>
    Effect.gen(function* () {
      const address = yield* Libc.posixMemalign(65536, 4096)
      assert.strictEqual(address % 65536, 0)
      yield* Libc.free(address)
      const bad = failure(yield* Effect.exit(Libc.posixMemalign(3, 4096)))
      assert.strictEqual(bad.code, "EINVAL")
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "m")
      NodeFs.writeFileSync(path, "mapped!")
      const fd = yield* openFd(path, Libc.O_RDWR)
      const mapped = yield* Libc.mmap(4096, Libc.PROT_READ, Libc.MAP_SHARED, fd, 0)
      const lib = yield* Libc.native
      const view = new Uint8Array(lib.koffi.view(mapped, 7))
      assert.strictEqual(new TextDecoder().decode(view), "mapped!")
      yield* Libc.munmap(mapped, 4096)
      yield* Libc.unlink(path)
      assert.isFalse(NodeFs.existsSync(path))
    }),
  )

  it.live("off-thread calls leave the event loop free", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const fd = yield* openFd(NodePath.join(dir, "loop"), Libc.O_RDWR | Libc.O_CREAT)
      let ticks = 0
      const timer = setInterval(() => ticks++, 0)
      yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        (i) => Effect.andThen(Libc.pwrite(fd, new Uint8Array(4096).fill(i), i * 4096), Libc.fdatasync(fd)),
      )
      clearInterval(timer)
      assert.isAbove(ticks, 0, "timers ran while the calls were on the threadpool")
    }),
  )
})
