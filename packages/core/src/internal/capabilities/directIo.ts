/**
 * Does O_DIRECT work on this filesystem, and at what alignment? Found out by trying, because
 * filesystems lie by omission: tmpfs, FUSE and btrfs report no DIO alignment through statx, and
 * some accept the O_DIRECT open only to refuse the first write.
 *
 * The probe creates a scratch file next to the target (`.fsys-probe-<pid>-<n>`), opens it with
 * O_DIRECT, reads its statx DIO alignment, writes and reads back one aligned block at the smallest
 * offset alignment the kernel accepts (512, then 4096, …), and removes it. A user's existing file
 * is never written: when the directory is not writable, only an O_DIRECT read-only open of the
 * existing file is tried. Blocking calls all run off-thread (`Libc`).
 *
 * @internal
 */
import * as NodePath from "node:path"
import { Effect } from "effect"
import { AlignedMemory, type IoError, Libc, Statx } from "@fsys/native"

export interface DirectIoFacts {
  readonly directIo: boolean | "unknown"
  /** Why `directIo` is what it is. */
  readonly reason: string
  readonly dioMemAlign: number | "unknown"
  readonly dioOffsetAlign: number | "unknown"
  /** The smallest offset/length alignment a Direct write was accepted at, when one was. */
  readonly acceptedAlignment: number | "unknown"
}

/** Alignments tried, smallest first (4Kn devices refuse 512). */
const CANDIDATE_ALIGNMENTS = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]
/** Memory alignment for the probe buffer: satisfies every device's DMA alignment. */
const BUFFER_ALIGNMENT = 65536

let scratchCounter = 0

const ignore = <A>(effect: Effect.Effect<A, IoError.IoError>) => Effect.ignore(effect)

/** Tries aligned writes at increasing alignment; the first accepted one is read back and compared. */
const tryWrites = (fd: number, path: string): Effect.Effect<{ accepted: number | "unknown"; detail: string }> =>
  Effect.scoped(
    Effect.gen(function* () {
      const buffer = yield* AlignedMemory.allocate(
        CANDIDATE_ALIGNMENTS[CANDIDATE_ALIGNMENTS.length - 1]!,
        BUFFER_ALIGNMENT,
      )
      for (let i = 0; i < buffer.byteLength; i++) buffer.bytes[i] = (i * 31 + 7) & 0xff
      let lastError = "no write tried"
      for (const alignment of CANDIDATE_ALIGNMENTS) {
        const written = yield* Effect.result(Libc.pwrite(fd, buffer.bytes.subarray(0, alignment), alignment, path))
        if (written._tag === "Failure") {
          lastError = written.failure.code
          if (written.failure.code === "EINVAL") continue
          return { accepted: "unknown" as const, detail: `Direct write failed: ${written.failure.code}` }
        }
        const readBack = yield* AlignedMemory.allocate(alignment, BUFFER_ALIGNMENT)
        const read = yield* Effect.result(Libc.pread(fd, readBack.bytes, alignment, path))
        if (read._tag === "Failure" || read.success !== alignment) {
          return { accepted: "unknown" as const, detail: "Direct read-back failed" }
        }
        for (let i = 0; i < alignment; i++) {
          if (readBack.bytes[i] !== buffer.bytes[i])
            return { accepted: "unknown" as const, detail: "Direct read-back differs" }
        }
        return { accepted: alignment, detail: `aligned ${alignment}-byte write and read-back succeeded` }
      }
      return { accepted: "unknown" as const, detail: `every Direct write was refused (${lastError})` }
    }),
  ).pipe(
    Effect.catch((error) => Effect.succeed({ accepted: "unknown" as const, detail: `probe buffer: ${error.code}` })),
  )

/** Falls back to an O_DIRECT read-only open of an existing file (the directory was not writable). */
const tryExisting = (existingFile: string | undefined, openError: IoError.IoError): Effect.Effect<DirectIoFacts> =>
  Effect.gen(function* () {
    const unknown: DirectIoFacts = {
      directIo: "unknown",
      reason: `cannot create a probe file (${openError.code})`,
      dioMemAlign: "unknown",
      dioOffsetAlign: "unknown",
      acceptedAlignment: "unknown",
    }
    if (existingFile === undefined) return unknown
    const opened = yield* Effect.result(Libc.open(existingFile, Libc.O_RDONLY | Libc.O_DIRECT))
    if (opened._tag === "Failure") {
      return opened.failure.code === "EINVAL"
        ? { ...unknown, directIo: false, reason: "O_DIRECT open refused (EINVAL)" }
        : unknown
    }
    const stat = yield* Effect.result(Statx.fd(opened.success))
    yield* ignore(Libc.close(opened.success, existingFile))
    return {
      directIo: true,
      reason: "O_DIRECT read-only open of the existing file succeeded (directory not writable: no write tried)",
      dioMemAlign: stat._tag === "Success" ? (stat.success.dioMemAlign ?? "unknown") : "unknown",
      dioOffsetAlign: stat._tag === "Success" ? (stat.success.dioOffsetAlign ?? "unknown") : "unknown",
      acceptedAlignment: "unknown",
    }
  })

/** Probes O_DIRECT in `directory`; `existingFile` is used read-only if the directory is not writable. */
export const probeDirectIo = (directory: string, existingFile: string | undefined): Effect.Effect<DirectIoFacts> =>
  Effect.gen(function* () {
    const scratch = NodePath.join(directory, `.fsys-probe-${process.pid}-${scratchCounter++}`)
    const flags = Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL | Libc.O_DIRECT
    const opened = yield* Effect.result(Libc.open(scratch, flags, 0o600))
    if (opened._tag === "Failure") {
      const error = opened.failure
      if (error.code === "EINVAL") {
        // Some filesystems (ramfs) create the file and then refuse the O_DIRECT open: clean up.
        yield* ignore(Libc.unlink(scratch))
        return {
          directIo: false,
          reason: "O_DIRECT open refused (EINVAL): the filesystem has no Direct IO",
          dioMemAlign: "unknown",
          dioOffsetAlign: "unknown",
          acceptedAlignment: "unknown",
        } satisfies DirectIoFacts
      }
      return yield* tryExisting(existingFile, error)
    }
    const fd = opened.success
    return yield* Effect.gen(function* () {
      const stat = yield* Effect.result(Statx.fd(fd))
      const dioMemAlign = stat._tag === "Success" ? (stat.success.dioMemAlign ?? "unknown") : "unknown"
      const dioOffsetAlign = stat._tag === "Success" ? (stat.success.dioOffsetAlign ?? "unknown") : "unknown"
      const { accepted, detail } = yield* tryWrites(fd, scratch)
      return {
        directIo:
          accepted === "unknown" ? (detail.startsWith("every Direct write was refused") ? false : "unknown") : true,
        reason: detail,
        dioMemAlign,
        dioOffsetAlign,
        acceptedAlignment: accepted,
      } satisfies DirectIoFacts
    }).pipe(Effect.ensuring(Effect.andThen(ignore(Libc.close(fd, scratch)), ignore(Libc.unlink(scratch)))))
  })
