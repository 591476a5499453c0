/**
 * `FileIo.directAlignment` for the Node and io_uring layers: what O_DIRECT on an open file must
 * align to (statx `STATX_DIOALIGN`, Linux 6.1+) and the device's physical sector (sysfs), so a
 * Direct journal on a 512e disk (logical 512 B, physical 4 KiB) writes whole physical sectors and
 * the device never read-modify-writes a sector that holds acknowledged records.
 *
 * Unknown facts fall back, never fail: no DIO alignment reported → the logical block size → 4096
 * (which every device we support accepts); no physical size → the offset alignment.
 *
 * @internal
 */
import { Effect } from "effect"
import { type IoError, Statx } from "@fsys/native"
import type { DirectAlignment } from "../../FileIo.ts"
import { deviceFacts } from "../capabilities/sysfs.ts"

/** The alignment when nothing is known: the largest common logical block size. */
const FALLBACK_ALIGNMENT_BYTES = 4096

const known = (value: number | "unknown" | undefined): number | undefined =>
  typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : undefined

/** @internal */
export const ofDescriptor = (fd: number): Effect.Effect<DirectAlignment, IoError.IoError> =>
  Effect.gen(function* () {
    const stat = yield* Statx.fd(fd)
    const device = yield* deviceFacts(stat.devMajor, stat.devMinor)
    const offsetBytes = known(stat.dioOffsetAlign) ?? known(device.logicalBlockSize) ?? FALLBACK_ALIGNMENT_BYTES
    const memoryBytes = known(stat.dioMemAlign) ?? offsetBytes
    const physicalSectorBytes = Math.max(offsetBytes, known(device.physicalBlockSize) ?? offsetBytes)
    return { offsetBytes, memoryBytes, physicalSectorBytes }
  })
