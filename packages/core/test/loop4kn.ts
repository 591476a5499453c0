/**
 * A scoped "4Kn disk" for tests: an ext4 image on a loop device with 4096-byte logical sectors,
 * where 512-byte O_DIRECT writes fail with EINVAL. Needs root, losetup and mkfs.ext4; when any
 * step fails, `mount4kn` yields the reason instead so the test can skip cleanly.
 */
import * as ChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Effect } from "effect"

const run = (command: string, args: ReadonlyArray<string>): string =>
  ChildProcess.execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim()

export type Mounted =
  | { readonly _tag: "Mounted"; readonly directory: string }
  | { readonly _tag: "Unavailable"; readonly reason: string }

export const mount4kn: Effect.Effect<Mounted, never, import("effect").Scope.Scope> = Effect.acquireRelease(
  Effect.sync((): Mounted & { cleanup?: () => void } => {
    const root = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-4kn-"))
    const image = NodePath.join(root, "disk.img")
    const directory = NodePath.join(root, "mnt")
    let device: string | undefined
    let mounted = false
    const cleanup = () => {
      if (mounted) ChildProcess.spawnSync("umount", [directory])
      if (device !== undefined) ChildProcess.spawnSync("losetup", ["-d", device])
      NodeFs.rmSync(root, { recursive: true, force: true })
    }
    try {
      if (process.getuid?.() !== 0) throw new Error("needs root")
      NodeFs.mkdirSync(directory)
      NodeFs.writeFileSync(image, "")
      NodeFs.truncateSync(image, 64 * 1024 * 1024)
      device = run("losetup", ["--find", "--show", "--sector-size", "4096", image])
      run("mkfs.ext4", ["-q", "-F", "-b", "4096", device])
      run("mount", [device, directory])
      mounted = true
      return { _tag: "Mounted", directory, cleanup }
    } catch (error) {
      cleanup()
      return { _tag: "Unavailable", reason: `4Kn loop device unavailable: ${(error as Error).message.split("\n")[0]}` }
    }
  }),
  (mounted) => Effect.sync(() => mounted.cleanup?.()),
)
