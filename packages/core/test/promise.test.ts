/**
 * The Promise API (`@fsys/core/promise`): the same engine and contract as `Journal`, errors that
 * are the tagged classes themselves, reading as async iterables.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { IoError } from "@fsys/native"
import {
  InvalidOptions,
  JournalClosed,
  JournalLocked,
  LsnOutOfRange,
  NotAJournal,
  openJournal,
  RecordTooLarge,
  records,
  scan,
} from "@fsys/core/promise"
import * as PromiseApi from "@fsys/core/promise"
import { Frame } from "@fsys/core"
import { decodeFile } from "./journalFixtures.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

let dir = ""
beforeEach(() => {
  dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "fsys-promise-"))
})
afterEach(() => NodeFs.rmSync(dir, { recursive: true, force: true }))

/** The rejection of `promise`, failing the test if it resolves. */
const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error("expected a rejection")
}

/** `Array.fromAsync`, which lib ES2024 does not declare. */
const collect = async <A>(iterable: AsyncIterable<A>): Promise<Array<A>> => {
  const items: Array<A> = []
  for await (const item of iterable) items.push(item)
  return items
}

describe("@fsys/core/promise", () => {
  it("appends, syncs and closes; the file holds exactly the records, durable", async () => {
    const path = NodePath.join(dir, "a.journal")
    const journal = await openJournal(path, { mode: "buffered" })
    expect(journal.info().mode).toBe("buffered")
    const first = await journal.append(encoder.encode("hello"))
    expect(first).toBe(Frame.OVERHEAD_BYTES + 5)
    await journal.syncThrough(first)
    expect(journal.syncedLsn()).toBeGreaterThanOrEqual(first)
    const last = await journal.appendBatch(["a", "bb"].map((word) => encoder.encode(word)))
    expect(journal.nextLsn()).toBe(last)
    expect(await journal.sync()).toBe(last)
    expect(journal.stats().appends).toBe(3)
    await journal.close()
    await journal.close() // idempotent
    const decoded = decodeFile(path)
    expect(decoded.records.map((record) => decoder.decode(record.payload))).toEqual(["hello", "a", "bb"])
    expect(decoded.cleanEnd).toBe(last)
  })

  it("await using closes the journal at the end of the block", async () => {
    const path = NodePath.join(dir, "b.journal")
    {
      await using journal = await openJournal(path)
      await journal.append(encoder.encode("scoped"))
    }
    // Closed and unlocked: it opens again and close synced the record.
    await using again = await openJournal(path)
    expect(again.info().recoveredRecords).toBe(1)
  })

  it("rejects with the tagged error classes themselves", async () => {
    const path = NodePath.join(dir, "c.journal")
    const journal = await openJournal(path)

    const locked = await rejection(openJournal(path))
    expect(locked).toBeInstanceOf(JournalLocked)
    expect(locked).toBeInstanceOf(Error)
    expect((locked as JournalLocked)._tag).toBe("JournalLocked")
    expect((locked as JournalLocked).message).toContain("already open")

    const beyond = await rejection(journal.syncThrough(journal.nextLsn() + 1))
    expect(beyond).toBeInstanceOf(LsnOutOfRange)

    const tooLarge = await rejection(journal.append(new Uint8Array(Frame.PAYLOAD_BYTES_MAX + 1)))
    expect(tooLarge).toBeInstanceOf(RecordTooLarge)

    await journal.close()
    const closed = await rejection(journal.append(encoder.encode("late")))
    expect(closed).toBeInstanceOf(JournalClosed)
    expect((closed as JournalClosed).message).toBe(`journal ${path} is closed`)

    const invalid = await rejection(openJournal(NodePath.join(dir, "d.journal"), { logBufferBytes: 3 }))
    expect(invalid).toBeInstanceOf(InvalidOptions)
    expect((invalid as InvalidOptions).option).toBe("logBufferBytes")
    expect(NodeFs.existsSync(NodePath.join(dir, "d.journal"))).toBe(false)

    const notJournal = NodePath.join(dir, "text.txt")
    NodeFs.writeFileSync(notJournal, "not a journal at all")
    expect(await rejection(openJournal(notJournal))).toBeInstanceOf(NotAJournal)

    const missing = await rejection(scan(NodePath.join(dir, "missing.journal")))
    expect(missing).toBeInstanceOf(IoError.IoError)
    expect(missing).toBeInstanceOf(PromiseApi.IoError)
    expect((missing as IoError.IoError).reason).toBe("NotFound")
  })

  it("tryAppend places a record without a Promise, or answers undefined for append to take it", async () => {
    const path = NodePath.join(dir, "t.journal")
    const journal = await openJournal(path, { mode: "buffered", logBufferBytes: 65536 })
    const first = journal.tryAppend(encoder.encode("one"))
    expect(first).toBe(Frame.OVERHEAD_BYTES + 3)
    expect(journal.nextLsn()).toBe(first)

    // Larger than a slot: never placed synchronously, and nothing is placed; append takes it.
    const big = new Uint8Array(70_000).fill(7)
    expect(journal.tryAppend(big)).toBeUndefined()
    expect(journal.nextLsn()).toBe(first)
    await journal.append(big)

    // One synchronous loop: the turn's budget runs out and tryAppend stops placing, so a loop
    // that falls back to `await append` lets the event loop turn.
    const placed: Array<number> = []
    for (let i = 0; i < 5000; i++) {
      const end = journal.tryAppend(encoder.encode(`r${i}`))
      if (end === undefined) break
      placed.push(end)
    }
    expect(placed.length).toBeGreaterThan(0)
    expect(placed.length).toBeLessThan(5000)
    expect(journal.tryAppend(encoder.encode("still refused"))).toBeUndefined()
    const afterYield = await journal.append(encoder.encode(`r${placed.length}`))
    expect(journal.tryAppend(encoder.encode("placed again"))).toBe(afterYield + Frame.OVERHEAD_BYTES + 12)

    // Refused input throws the append's typed error and changes nothing.
    const before = journal.nextLsn()
    expect(() => journal.tryAppend(new Uint8Array(Frame.PAYLOAD_BYTES_MAX + 1))).toThrow(RecordTooLarge)
    expect(() => journal.tryAppend("text" as unknown as Uint8Array)).toThrow(InvalidOptions)
    expect(journal.nextLsn()).toBe(before)

    await journal.close()
    expect(() => journal.tryAppend(encoder.encode("late"))).toThrow(JournalClosed)
    const payloads = decodeFile(path).records.map((record) => decoder.decode(record.payload))
    expect(payloads.length).toBe(1 + 1 + placed.length + 1 + 1)
    expect(payloads[0]).toBe("one")
    expect(payloads.slice(2, 2 + placed.length + 1)).toEqual(
      Array.from({ length: placed.length + 1 }, (_, i) => `r${i}`),
    )
    expect(payloads.at(-1)).toBe("placed again")
  })

  it("scan and records read what was written; from skips earlier records", async () => {
    const path = NodePath.join(dir, "e.journal")
    const words = ["one", "two", "three"]
    {
      await using journal = await openJournal(path)
      await journal.appendBatch(words.map((word) => encoder.encode(word)))
    }
    const result = await scan(path)
    expect(result.records).toBe(3)
    expect(result.tailState).toBe("CleanEnd")
    const all = await collect(records(path))
    expect(all.map((record) => decoder.decode(record.payload))).toEqual(words)
    const rest = await collect(records(path, { from: all[1]!.lsn }))
    expect(rest.map((record) => record.lsn)).toEqual([all[1]!.lsn, all[2]!.lsn])
    const bad = await rejection(collect(records(path, { from: -1 })))
    expect(bad).toBeInstanceOf(InvalidOptions)
  })

  it("records with follow sees records appended later; breaking out stops it", async () => {
    const path = NodePath.join(dir, "f.journal")
    await using journal = await openJournal(path, { mode: "buffered" })
    await journal.syncThrough(await journal.append(encoder.encode("before")))
    const seen: Array<string> = []
    for await (const record of records(path, { follow: true, pollMillis: 5 })) {
      seen.push(decoder.decode(record.payload))
      if (seen.length === 1) await journal.syncThrough(await journal.append(encoder.encode("after")))
      if (seen.length === 2) break
    }
    expect(seen).toEqual(["before", "after"])
  })
})
