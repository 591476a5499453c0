/**
 * How long a writer killed with SIGKILL keeps the journal locked after it exited: a child opens a
 * journal (`buffered` or `direct`, default backend) and runs 16 durable producers, is killed 100 ms
 * after it is ready, and the parent opens the journal as soon as the child's exit is reported,
 * retrying every 2 ms while it is refused. Prints how long each refused reopen waited.
 * (`Journal.open` itself waits up to 1 s for a busy lock: `internal/recovery/resume.ts`.)
 *
 * Run: `node_modules/.bin/node scripts/lock-after-kill.ts [buffered|direct]`
 */
import { spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Effect } from "effect"
import { Journal } from "@fsys/core"
const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "lockprobe-"))
const path = NodePath.join(dir, "j.log")
if (process.argv[2] === "child") {
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const j = yield* Journal.open(process.argv[3]!, { mode: (process.argv[4] ?? "buffered") as "buffered" })
        console.log("ready")
        yield* Effect.forEach(Array.from({ length: 16 }), () => Effect.forever(j.appendDurable(new Uint8Array(100))), {
          concurrency: "unbounded",
        })
      }),
    ),
  )
} else {
  let locked = 0
  for (let round = 0; round < 20; round++) {
    await new Promise<void>((resolve) => {
      const child = spawn(process.execPath, [process.argv[1]!, "child", path, process.argv[2] ?? "buffered"], {
        stdio: ["ignore", "pipe", "inherit"],
      })
      child.stdout.on("data", () => setTimeout(() => child.kill("SIGKILL"), 100))
      child.on("exit", () => resolve())
    })
    const t = performance.now()
    let tries = 0
    for (;;) {
      const exit = await Effect.runPromise(Effect.exit(Effect.scoped(Journal.open(path, { mode: "buffered" }))))
      if (exit._tag === "Success") break
      tries++
      await new Promise((r) => setTimeout(r, 2))
    }
    if (tries > 0) {
      locked++
      console.log("round", round, "locked for", (performance.now() - t).toFixed(1), "ms")
    }
  }
  console.log("locked after exit in", locked, "of 20")
  NodeFs.rmSync(dir, { recursive: true, force: true })
}
