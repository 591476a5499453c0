import * as ChildProcess from "node:child_process"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { FileIo, FileIoAuto } from "@fsys/core"

/** Runs `body` with FSYS_BACKEND set to `value` (or unset), restoring it afterwards. */
const withEnv = <A, E, R>(value: string | undefined, body: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const previous = process.env[FileIoAuto.ENV_BACKEND]
      if (value === undefined) delete process.env[FileIoAuto.ENV_BACKEND]
      else process.env[FileIoAuto.ENV_BACKEND] = value
      return previous
    }),
    () => body,
    (previous) =>
      Effect.sync(() => {
        if (previous === undefined) delete process.env[FileIoAuto.ENV_BACKEND]
        else process.env[FileIoAuto.ENV_BACKEND] = previous
      }),
  )

const chosen = (options?: FileIoAuto.Options) =>
  Effect.scoped(Effect.map(FileIoAuto.make(options), (io) => ({ backend: io.backend, reason: io.reason })))

const strace = (() => {
  try {
    ChildProcess.execFileSync("strace", ["-V"], { stdio: "ignore" })
    ChildProcess.execFileSync("strace", ["-f", "-qq", "-e", "trace=none", "true"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

/** Runs the fixture under strace with io_uring_setup failing `errno`; returns its JSON line. */
const underInjectedFailure = (errno: string, backend: FileIoAuto.BackendChoice) =>
  Effect.promise(
    () =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const fixture = NodePath.join(import.meta.dirname, "fixtures", "autoBackend.ts")
        const env = { ...process.env }
        delete env[FileIoAuto.ENV_BACKEND]
        ChildProcess.execFile(
          "strace",
          [
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            `inject=io_uring_setup:error=${errno}`,
            process.execPath,
            fixture,
            backend,
          ],
          { timeout: 30_000, env },
          (error, stdout, stderr) => {
            const line = stdout.trim().split("\n").pop()
            if (line === undefined || line === "") return reject(new Error(`no output: ${error} ${stderr}`))
            resolve(JSON.parse(line) as Record<string, unknown>)
          },
        )
      }),
  )

describe("FileIoAuto", () => {
  it.live("probeIoUring: available here, with features, cached", () =>
    Effect.gen(function* () {
      const probe = yield* FileIoAuto.probeIoUring
      assert.isTrue(probe.available)
      assert.isAbove(probe.features ?? 0, 0)
      assert.include(probe.reason, "io_uring available")
      assert.strictEqual(yield* FileIoAuto.probeIoUring, probe, "the second probe is the cached answer")
    }),
  )

  it.live("auto picks io_uring here and says why; the layer provides it", () =>
    withEnv(
      undefined,
      Effect.gen(function* () {
        const result = yield* chosen()
        assert.strictEqual(result.backend, "io_uring")
        assert.match(result.reason, /^io_uring: io_uring available/)
        const viaLayer = yield* Effect.provide(
          Effect.gen(function* () {
            return (yield* FileIo.FileIo).backend
          }),
          Layer.fresh(FileIoAuto.layer),
        )
        assert.strictEqual(viaLayer, "io_uring")
      }),
    ),
  )

  it.live("the backend option and FSYS_BACKEND force a backend", () =>
    Effect.gen(function* () {
      const byOption = yield* withEnv(undefined, chosen({ backend: "pwrite" }))
      assert.strictEqual(byOption.backend, "pwrite")
      assert.strictEqual(byOption.reason, "pwrite forced by the backend option")
      const byEnv = yield* withEnv("pwrite", chosen())
      assert.strictEqual(byEnv.backend, "pwrite")
      assert.strictEqual(byEnv.reason, "pwrite forced by FSYS_BACKEND")
      const forcedRing = yield* withEnv("io_uring", chosen())
      assert.strictEqual(forcedRing.backend, "io_uring")
      assert.match(forcedRing.reason, /forced by FSYS_BACKEND/)
      // The option wins over the environment.
      const optionWins = yield* withEnv("pwrite", chosen({ backend: "io_uring" }))
      assert.strictEqual(optionWins.backend, "io_uring")
    }),
  )

  it.live("a bad FSYS_BACKEND is InvalidOptions (a caller's mistake, not an IO failure)", () =>
    Effect.gen(function* () {
      const exit = yield* withEnv("spdk", Effect.exit(chosen()))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const reason = exit.cause.reasons[0]
        assert.isTrue(reason?._tag === "Fail" && reason.error._tag === "InvalidOptions", String(exit.cause))
        if (reason?._tag === "Fail" && reason.error._tag === "InvalidOptions") {
          assert.strictEqual(reason.error.option, "FSYS_BACKEND")
          assert.include(reason.error.reason, '"spdk"')
        }
      }
    }),
  )

  describe.skipIf(!strace)("with io_uring_setup failing (strace fault injection)", () => {
    it.live("EPERM (seccomp / io_uring_disabled): auto falls back to pwrite and says why", () =>
      Effect.gen(function* () {
        const result = yield* underInjectedFailure("EPERM", "auto")
        assert.strictEqual(result.ok, true)
        assert.strictEqual(result.backend, "pwrite")
        assert.match(String(result.reason), /^pwrite: io_uring_setup: EPERM/)
        assert.strictEqual((result.probe as FileIoAuto.IoUringProbe).available, false)
      }),
    )

    it.live("ENOSYS and ENOMEM are explained too", () =>
      Effect.gen(function* () {
        const enosys = yield* underInjectedFailure("ENOSYS", "auto")
        assert.match(String(enosys.reason), /ENOSYS \(kernel older than 5\.1/)
        const enomem = yield* underInjectedFailure("ENOMEM", "auto")
        assert.match(String(enomem.reason), /RLIMIT_MEMLOCK/)
      }),
    )

    it.live("forcing io_uring where it is unavailable fails with a typed error", () =>
      Effect.gen(function* () {
        const result = yield* underInjectedFailure("EPERM", "io_uring")
        assert.strictEqual(result.ok, false)
        assert.strictEqual(result.code, "EPERM")
        assert.strictEqual(result.reason, "PermissionDenied")
        assert.strictEqual(result.path, "", "no description stuffed into the path")
        assert.match(String(result.description), /io_uring forced by the backend option/)
      }),
    )
  })
})
