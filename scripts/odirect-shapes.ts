/**
 * The bench's O_DIRECT reference (`packages/bench/src/internal/oDirect.ts`) on its own, several
 * times: each run times its three shapes one after the other and names the fastest, so a few runs
 * show whether one shape wins on this disk or the disk's swings decide.
 *
 * Run: `node_modules/.bin/node scripts/odirect-shapes.ts [runs=3] [MiB=512]`
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { measure } from "../packages/bench/src/internal/oDirect.ts"

const runs = Number(process.argv[2] ?? 3)
const totalBytes = Number(process.argv[3] ?? 512) * 1024 * 1024
const directory = NodeFs.mkdtempSync(NodePath.join(process.env.TMPDIR ?? NodeOs.tmpdir(), "fsys-odirect-"))
try {
  for (let run = 0; run < runs; run++) {
    const measured = await measure(directory, totalBytes, 1024 * 1024)
    console.log(`${(measured.bytesPerSecond / 1e6).toFixed(0)} MB/s  ${measured.detail}`)
  }
} finally {
  NodeFs.rmSync(directory, { recursive: true, force: true })
}
