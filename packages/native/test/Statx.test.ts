import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Libc, Statx } from "@fsys/native"
import { openFd, tempDir } from "./helpers.ts"

describe("Statx", () => {
  it.live("reports size, type, device and the Direct-IO alignment of a file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const path = NodePath.join(dir, "s")
      NodeFs.writeFileSync(path, new Uint8Array(12345))
      const stat = yield* Statx.path(path)
      const node = NodeFs.statSync(path, { bigint: true })
      assert.strictEqual(stat.sizeBytes, 12345)
      assert.isTrue(stat.isRegularFile)
      assert.isFalse(stat.isDirectory)
      assert.strictEqual(stat.inode, node.ino)
      // st_dev as Node encodes it (major << 8 | minor for small numbers).
      assert.strictEqual(BigInt((stat.devMajor << 8) | stat.devMinor), node.dev)
      const fd = yield* openFd(path, Libc.O_RDONLY)
      const byFd = yield* Statx.fd(fd)
      assert.strictEqual(byFd.inode, stat.inode)
      assert.isTrue((yield* Statx.path(dir)).isDirectory)
      // ext4 on Linux ≥ 6.1 reports the DIO alignment; other filesystems may not.
      if (stat.dioOffsetAlign !== undefined) {
        assert.isTrue(stat.dioOffsetAlign >= 512 && (stat.dioOffsetAlign & (stat.dioOffsetAlign - 1)) === 0)
        assert.isTrue(stat.dioMemAlign !== undefined && stat.dioMemAlign > 0)
      }
    }),
  )

  it.live("a missing path fails NotFound", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Statx.path("/definitely/not/here"))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const reason = exit.cause.reasons[0]
        assert.isTrue(reason?._tag === "Fail" && reason.error.reason === "NotFound" && reason.error.syscall === "statx")
      }
    }),
  )
})
