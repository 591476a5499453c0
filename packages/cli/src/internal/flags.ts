/**
 * Flags shared by several fsys commands.
 */
import { Flag } from "effect/cli"

/** `--legacy-gaps`: read fsys 1.1.0's gapped files too (see reference/fsys-journal.md). */
export const legacyGapsFlag = Flag.Boolean("legacy-gaps").pipe(
  Flag.withDescription("Also read fsys 1.1.0's gapped files (zero runs ending on a 512-byte boundary)"),
  Flag.withDefault(false),
)

/** `--json`: machine-readable output. */
export const jsonFlag = Flag.Boolean("json").pipe(
  Flag.withDescription("Print machine-readable JSON instead of text"),
  Flag.withDefault(false),
)
