/**
 * Real process crashes (SIGKILL of a writer child at random moments) and fdatasync EIO injected
 * into the Node path with strace. The kill rounds are @fsys/testkit's KillNineHarness (also run
 * by scripts/crash-kill9.ts and `fsys demo`); the strace run is `KillNineHarness.runStraceEio`.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { KillNineHarness } from "@fsys/testkit"

const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-process-crash-"))
afterAll(() => NodeFs.rmSync(directory, { recursive: true, force: true }))

/** Each round starts a Node child (≈1–2 s here) and kills it within 400 ms of its open. */
const KILL_ROUNDS = 3
const TIMEOUT_MILLIS = 180_000

describe("kill -9 of a writer process", () => {
  for (const mode of ["buffered", "direct"] as const) {
    it(
      `${mode}: every record reported durable survives each SIGKILL; reopen resumes at the clean end`,
      async () => {
        const result = await Effect.runPromise(
          KillNineHarness.runKillRounds({ mode, rounds: KILL_ROUNDS, seed: 1, directory }),
        )
        assert.strictEqual(result.summaries.length, KILL_ROUNDS, result.failures.join("\n"))
        assert.deepStrictEqual(result.failures, [])
      },
      TIMEOUT_MILLIS,
    )
  }
})

const unavailable = KillNineHarness.straceUnavailable()

describe("fdatasync EIO injected with strace (Node pwrite path)", () => {
  for (const mode of ["buffered", "direct"] as const) {
    it.skipIf(unavailable !== undefined)(
      `${mode}: poisons, never retries the fdatasync, keeps every durable record${unavailable === undefined ? "" : ` — skipped: ${unavailable}`}`,
      async () => {
        const result = await KillNineHarness.runStraceEio({ mode, directory, whenNth: 3, seed: 1 })
        assert.deepStrictEqual(result.failures, [], result.summary)
      },
      TIMEOUT_MILLIS,
    )
  }

  it("the retry detector finds an fdatasync started on the same descriptor after the injected one", () => {
    const clean = [
      "101 fdatasync(21)                     = 0",
      "102 fdatasync(21 <unfinished ...>",
      "102 <... fdatasync resumed>)          = -1 EIO (Input/output error) (INJECTED)",
      "103 fdatasync(30)                     = 0",
    ].join("\n")
    assert.deepStrictEqual(KillNineHarness.retriesAfterInjection(clean), { injected: true, fd: "21", retries: 0 })
    const retried = `${clean}\n101 fdatasync(21)                     = 0\n`
    assert.deepStrictEqual(KillNineHarness.retriesAfterInjection(retried), { injected: true, fd: "21", retries: 1 })
    assert.isFalse(KillNineHarness.retriesAfterInjection("101 fdatasync(21) = 0\n").injected)
  })
})
