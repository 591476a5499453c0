/**
 * Opens and writes that must work where real apps run: several journals on one provided layer,
 * a non-root user with the default RLIMIT_MEMLOCK, hundreds of journals at once.
 */
import * as ChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { FileIoAuto, IoUringFileIo, Journal } from "@fsys/core"
import { decodeFile, tempDir } from "./journalFixtures.ts"

const JOURNALS_ON_ONE_LAYER = 4
const RECORDS_PER_JOURNAL = 3

const payloadOf = (journal: number, record: number) => new TextEncoder().encode(`journal ${journal} record ${record}`)

/** Opens `count` journals at once through `layer` (built once), appends, syncs, closes; twice. */
const severalOnOneLayer = (layer: Layer.Layer<never, unknown>, dir: string, count: number) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(layer)
    const session = (round: number) =>
      Effect.scoped(
        Effect.gen(function* () {
          const journals = yield* Effect.forEach(Array.from({ length: count }), (_, i) =>
            Journal.open(NodePath.join(dir, `j${i}.log`)),
          )
          for (const [i, journal] of journals.entries()) {
            for (let r = 0; r < RECORDS_PER_JOURNAL; r++) yield* journal.append(payloadOf(i, round * 10 + r))
          }
          yield* Effect.forEach(journals, (journal) => journal.sync, { concurrency: "unbounded" })
          const infos = yield* Effect.forEach(journals, (journal) => journal.info)
          yield* Effect.forEach(journals, (journal) => journal.close)
          return infos
        }),
      ).pipe(Effect.provide(context))
    const first = yield* session(0)
    const second = yield* session(1)
    for (let i = 0; i < count; i++) {
      const decoded = decodeFile(NodePath.join(dir, `j${i}.log`)).records.map((record) =>
        new TextDecoder().decode(record.payload),
      )
      const expected = [0, 1, 2, 10, 11, 12].map((r) => new TextDecoder().decode(payloadOf(i, r)))
      assert.deepStrictEqual(decoded, expected, `journal ${i} kept every record of both sessions`)
    }
    return [...first, ...second]
  })

describe("Availability", () => {
  it.live("several journals on one provided IoUringFileIo.layer: each registers its slots (one ring)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const infos = yield* severalOnOneLayer(IoUringFileIo.layer, dir, JOURNALS_ON_ONE_LAYER)
      for (const info of infos) {
        assert.strictEqual(info.backend, "io_uring")
        assert.include(info.reason, "registered fixed buffers (WRITE_FIXED)", info.reason)
      }
    }),
  )

  it.live("several journals on one provided FileIoAuto.layer", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const infos = yield* severalOnOneLayer(FileIoAuto.layer, dir, JOURNALS_ON_ONE_LAYER)
      assert.strictEqual(infos.length, 2 * JOURNALS_ON_ONE_LAYER)
      for (const info of infos) assert.strictEqual(info.backend, infos[0]!.backend)
    }),
  )

  it.live("more journals than the ring's buffer table: the rest run unregistered, and say so", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      // 1 KiB-slot journals; 513 of them need 1026 entries of a 1024-entry table.
      const count = 513
      const layer = IoUringFileIo.layerWith({ entries: 64 })
      const context = yield* Layer.build(layer)
      const infos = yield* Effect.scoped(
        Effect.gen(function* () {
          const journals = yield* Effect.forEach(
            Array.from({ length: count }),
            (_, i) =>
              Journal.open(NodePath.join(dir, `t${i}.log`), {
                logBufferBytes: 4096,
                mode: "buffered",
                preallocateBytes: 0,
              }),
            { concurrency: 1 },
          )
          yield* Effect.forEach(journals, (journal, i) => journal.append(payloadOf(i, 0)))
          yield* Effect.forEach(journals, (journal) => journal.sync, { concurrency: 32 })
          return yield* Effect.forEach(journals, (journal) => journal.info)
        }),
      ).pipe(Effect.provide(context))
      const refused = infos.filter((info) => info.reason.includes("not registered"))
      assert.strictEqual(refused.length, 1, "exactly the journal past the table runs unregistered")
      assert.include(refused[0]!.reason, "EBUSY")
      assert.include(refused[0]!.reason, "table is full")
      for (let i = 0; i < count; i++) {
        assert.strictEqual(decodeFile(NodePath.join(dir, `t${i}.log`)).records.length, 1)
      }
    }),
  )

  it.live("300 Direct journals on pwrite, one append + sync each, all at once: none is poisoned", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const count = 300
      const results = yield* Effect.scoped(
        Effect.gen(function* () {
          const journals = yield* Effect.forEach(Array.from({ length: count }), (_, i) =>
            Journal.open(NodePath.join(dir, `p${i}.log`), {
              backend: "pwrite",
              mode: "direct",
              logBufferBytes: 16 * 1024,
              preallocateBytes: 0,
            }),
          )
          assert.isTrue((yield* journals[0]!.info).directActive)
          return yield* Effect.forEach(
            journals,
            (journal, i) => Effect.exit(Effect.andThen(journal.append(payloadOf(i, 0)), journal.sync)),
            { concurrency: "unbounded" },
          )
        }),
      )
      const failed = results.filter((exit) => exit._tag === "Failure")
      assert.strictEqual(failed.length, 0, `${failed.length} of ${count} failed: ${failed[0]}`)
      for (let i = 0; i < count; i++) {
        assert.strictEqual(decodeFile(NodePath.join(dir, `p${i}.log`)).records.length, 1)
      }
    }),
  )
})

/** How to run a child as an unprivileged user here, or why it cannot be done. */
const unprivileged = (): { readonly prefix: ReadonlyArray<string> } | { readonly skip: string } => {
  const isRoot = process.getuid?.() === 0
  const has = (command: string, args: ReadonlyArray<string>) => {
    try {
      ChildProcess.execFileSync(command, args, { stdio: "ignore" })
      return true
    } catch {
      return false
    }
  }
  if (!has("prlimit", ["--version"])) return { skip: "prlimit (util-linux) is not installed" }
  const limit = ["prlimit", "--memlock=8388608:8388608", "--"]
  if (!isRoot) return { prefix: limit }
  if (!has("setpriv", ["--version"])) return { skip: "setpriv (util-linux) is not installed" }
  return { prefix: ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", ...limit] }
}

describe("Availability as an unprivileged user", () => {
  it("a default Direct io_uring journal opens, writes and reopens with RLIMIT_MEMLOCK = 8 MiB", (context) => {
    const how = unprivileged()
    if ("skip" in how) return context.skip(how.skip)
    // The node binary lives under the repository; `nobody` must be able to execute it.
    try {
      NodeFs.accessSync(process.execPath, NodeFs.constants.X_OK)
    } catch {
      return context.skip(`${process.execPath} is not executable`)
    }
    const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-nobody-"))
    try {
      NodeFs.chmodSync(dir, 0o777)
      const fixture = NodePath.join(import.meta.dirname, "fixtures", "unprivilegedJournal.ts")
      const [command, ...args] = [...how.prefix, process.execPath, fixture, dir]
      const output = ChildProcess.execFileSync(command!, args, { encoding: "utf8", timeout: 60_000 })
      const result = JSON.parse(output.trim().split("\n").at(-1)!)
      assert.isTrue(result.ok, output)
      assert.notStrictEqual(result.uid, 0, "the child really ran unprivileged")
      for (const info of [result.first, result.second]) {
        assert.strictEqual(info.backend, "io_uring")
        assert.isTrue(info.directActive)
        // 2 × 4 MiB of slots cannot be pinned under an 8 MiB limit: unregistered, and it says so.
        assert.match(info.reason, /fixed buffers not registered \(io_uring_register: ENOMEM\).*RLIMIT_MEMLOCK/)
      }
      assert.strictEqual(result.second.recoveredRecords, 3)
      assert.strictEqual(result.records.length, 6)
      assert.strictEqual(result.records[5], "record 2 written as nobody")
    } finally {
      NodeFs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
