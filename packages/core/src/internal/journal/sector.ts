/**
 * The sector size a Direct journal aligns its writes to, probed after the file exists (fsys bug
 * FS-J7: probing before creation read the wrong device and 4Kn disks then refused the writes).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as Capabilities from "../../Capabilities.ts"

/**
 * The probe's Direct alignment for the file (DIO offset alignment, else logical block size),
 * or 4096 — which every device we support accepts — when the probe cannot tell.
 */
export const probeSectorBytes = (path: string): Effect.Effect<number> =>
  Capabilities.probe(path).pipe(
    Effect.map((facts) => facts.sectorBytes),
    Effect.orElseSucceed(() => Capabilities.DEFAULT_SECTOR_BYTES),
  )
