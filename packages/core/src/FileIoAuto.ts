/**
 * The `FileIo` layer that decides at runtime: io_uring when a ring can be set up here, else the
 * Node (pwrite) layer — and says why.
 *
 * io_uring is unavailable more often than one would think: kernels older than 5.1 or built
 * without it (`ENOSYS`), `kernel.io_uring_disabled` set to 1 or 2, or a container runtime's
 * seccomp profile (`EPERM`), a tight `RLIMIT_MEMLOCK` on kernels before 5.12 (`ENOMEM`). The
 * probe sets up a tiny ring to find out (the only reliable test), and the service's `reason`
 * carries the verdict (`Journal.info`, `fsys probe`); the choice is also logged (Debug level).
 *
 * Forcing, for tests and operations: the `backend` option, or the environment variable
 * `FSYS_BACKEND=io_uring|pwrite` when the option is `"auto"`. Forcing io_uring where it is
 * unavailable fails with a typed `IoError` (reason `NotSupported` or `PermissionDenied`), never
 * silently falls back; a value of `FSYS_BACKEND` that names no backend is `InvalidOptions`.
 *
 * @since 0.1.0
 */
import * as NodeFs from "node:fs/promises"
import { Effect, Layer } from "effect"
import type * as Scope from "effect/Scope"
import { IoError, IoUring } from "@fsys/native"
import * as FileIo from "./FileIo.ts"
import * as IoUringFileIo from "./IoUringFileIo.ts"
import { InvalidOptions } from "./JournalError.ts"
import { make as makeNode } from "./internal/nodeFileIo/make.ts"

/**
 * What a layer is asked to use: decide (`"auto"`) or force one.
 *
 * @since 0.1.0
 * @category models
 */
export type BackendChoice = "auto" | "io_uring" | "pwrite"

/**
 * The environment variable that forces a backend when the option is `"auto"`.
 *
 * @since 0.1.0
 * @category constants
 */
export const ENV_BACKEND = "FSYS_BACKEND"

/**
 * @since 0.1.0
 * @category models
 */
export interface IoUringProbe {
  readonly available: boolean
  /** Why io_uring is (not) available, in words an operator can act on. */
  readonly reason: string
  /** `IORING_FEAT_*` bits, when available. */
  readonly features?: number
  /** errno name of the failed io_uring_setup, when unavailable. */
  readonly code?: string
}

const readSysctl = (path: string): Effect.Effect<string | undefined> =>
  Effect.promise(() =>
    NodeFs.readFile(path, "utf8").then(
      (text) => text.trim(),
      () => undefined,
    ),
  )

const explain = (code: string | undefined): Effect.Effect<string> =>
  Effect.gen(function* () {
    switch (code) {
      case "ENOSYS":
        return "io_uring_setup: ENOSYS (kernel older than 5.1 or built without io_uring, or libc unavailable)"
      case "EPERM": {
        const disabled = yield* readSysctl("/proc/sys/kernel/io_uring_disabled")
        if (disabled === "2") return "io_uring_setup: EPERM (disabled by sysctl kernel.io_uring_disabled=2)"
        if (disabled === "1") {
          return "io_uring_setup: EPERM (kernel.io_uring_disabled=1: only CAP_SYS_ADMIN or kernel.io_uring_group may use it)"
        }
        return "io_uring_setup: EPERM (blocked by a seccomp filter, e.g. a container runtime's default profile)"
      }
      case "ENOMEM":
        return "io_uring_setup: ENOMEM (RLIMIT_MEMLOCK too low for the rings; raise `ulimit -l`)"
      case "EINVAL":
        return "io_uring_setup: EINVAL (kernel too old for the ring parameters)"
      case "EOPNOTSUPP":
        return "io_uring lacks the READ/WRITE opcodes fsys uses (kernel older than 5.6)"
      default:
        return `io_uring_setup failed: ${code ?? "unknown error"}`
    }
  })

let cachedProbe: IoUringProbe | undefined

/**
 * Whether io_uring works here and why not; sets up and closes a 2-entry ring once per process
 * (the answer cannot change while the process runs) and never fails.
 *
 * @since 0.1.0
 * @category utils
 */
export const probeIoUring: Effect.Effect<IoUringProbe> = Effect.suspend(() => {
  if (cachedProbe !== undefined) return Effect.succeed(cachedProbe)
  return Effect.gen(function* () {
    const availability = yield* IoUring.probe
    const result: IoUringProbe = availability.available
      ? {
          available: true,
          reason: `io_uring available (features 0x${(availability.features ?? 0).toString(16)})`,
          ...(availability.features !== undefined ? { features: availability.features } : {}),
        }
      : {
          available: false,
          reason: yield* explain(availability.code),
          ...(availability.code !== undefined ? { code: availability.code } : {}),
        }
    cachedProbe = result
    return result
  })
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default `"auto"`: `FSYS_BACKEND` forces one, else the probe decides. */
  readonly backend?: BackendChoice
  /** Ring size for the io_uring layer. */
  readonly entries?: number
}

/**
 * True for the values `BackendChoice` allows (for options and `FSYS_BACKEND`).
 *
 * @since 0.1.0
 * @category utils
 */
export const isBackendChoice = (value: unknown): value is BackendChoice =>
  value === "auto" || value === "io_uring" || value === "pwrite"

/** The backend asked for, and by whom; a bad `FSYS_BACKEND` is a caller's mistake, not an IO failure. */
const resolveChoice = (
  option: BackendChoice | undefined,
): Effect.Effect<{ readonly choice: BackendChoice; readonly by: string }, InvalidOptions> => {
  if (option !== undefined && option !== "auto") return Effect.succeed({ choice: option, by: "the backend option" })
  const fromEnvironment = process.env[ENV_BACKEND]
  if (fromEnvironment === undefined || fromEnvironment === "") return Effect.succeed({ choice: "auto", by: "probe" })
  if (!isBackendChoice(fromEnvironment)) {
    return Effect.fail(
      new InvalidOptions({
        option: ENV_BACKEND,
        reason: `must be "io_uring", "pwrite" or "auto", got ${JSON.stringify(fromEnvironment)}`,
      }),
    )
  }
  return Effect.succeed({ choice: fromEnvironment, by: ENV_BACKEND })
}

const nodeWithReason = (reason: string): FileIo.FileIoService => makeNode(reason)

/**
 * Builds the chosen service. With `"auto"`, a ring that fails to set up after a successful probe
 * (e.g. a memlock limit reached by other rings) also falls back to the Node layer, with the
 * reason saying so.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options,
): Effect.Effect<FileIo.FileIoService, IoError.IoError | InvalidOptions, Scope.Scope> =>
  Effect.gen(function* () {
    const { choice, by } = yield* resolveChoice(options?.backend)
    const ringOptions = options?.entries !== undefined ? { entries: options.entries } : {}
    let service: FileIo.FileIoService
    if (choice === "pwrite") {
      service = nodeWithReason(`pwrite forced by ${by}`)
    } else {
      const probe = yield* probeIoUring
      if (choice === "io_uring") {
        if (!probe.available) {
          return yield* Effect.fail(
            IoError.fromErrno(
              probe.code ?? "ENOSYS",
              "io_uring_setup",
              "",
              `io_uring forced by ${by}: ${probe.reason}`,
            ),
          )
        }
        service = yield* IoUringFileIo.make({ ...ringOptions, reason: `io_uring forced by ${by} (${probe.reason})` })
      } else if (!probe.available) {
        service = nodeWithReason(`pwrite: ${probe.reason}`)
      } else {
        service = yield* IoUringFileIo.make({ ...ringOptions, reason: `io_uring: ${probe.reason}` }).pipe(
          Effect.catch((error) =>
            Effect.succeed(nodeWithReason(`pwrite: io_uring probed fine but this ring failed (${error.message})`)),
          ),
        )
      }
    }
    // Debug, not Info: CLI output stays clean; the reason is always visible as `service.reason`.
    yield* Effect.logDebug(`fsys FileIo backend: ${service.backend} — ${service.reason}`)
    return service
  })

/**
 * Provides `FileIo` through io_uring when it works here, else through the Node layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never, IoError.IoError | InvalidOptions> = Layer.effect(FileIo.FileIo, make())

/**
 * `layer` with options (force a backend, size the ring).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<never, IoError.IoError | InvalidOptions> =>
  Layer.effect(FileIo.FileIo, make(options))
