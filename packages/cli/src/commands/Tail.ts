/**
 * `fsys tail [-f] <journal>` — prints a journal's records, one per line, as UTF-8 text, hex or
 * JSON; with `--follow` keeps printing records as writers make them durable, until interrupted.
 *
 * @since 0.1.0
 */
import { Console, Effect, Option, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { JournalReader } from "@fsys/core"
import * as Failure from "../internal/failure.ts"
import { legacyGapsFlag } from "../internal/flags.ts"
import * as JournalFile from "../internal/journalFile.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type Encoding = "utf8" | "hex" | "json"

const decoder = new TextDecoder("utf-8", { fatal: true })

const utf8OrUndefined = (payload: Uint8Array): string | undefined => {
  try {
    return decoder.decode(payload)
  } catch {
    return undefined
  }
}

const hex = (payload: Uint8Array): string =>
  Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("hex")

/** A bound on `--lines` (the ring of LSNs it keeps). */
const MAX_LINES = 10_000_000

/** Control characters would break the one-record-per-line output: escape them. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/g

/**
 * One output line for a record.
 *
 * @since 0.1.0
 * @category utils
 */
export const formatRecord = (lsn: number, payload: Uint8Array, encoding: Encoding): string => {
  switch (encoding) {
    case "hex":
      return `${lsn}\t${hex(payload)}`
    case "utf8": {
      const text = utf8OrUndefined(payload)
      return text === undefined
        ? `${lsn}\t<${payload.length} bytes, not UTF-8: use --format hex>`
        : `${lsn}\t${text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}`
    }
    case "json": {
      const text = utf8OrUndefined(payload)
      let value: unknown
      if (text !== undefined) {
        try {
          value = JSON.parse(text)
        } catch {
          value = undefined
        }
      }
      return JSON.stringify(
        value !== undefined
          ? { lsn, length: payload.length, json: value }
          : text !== undefined
            ? { lsn, length: payload.length, utf8: text }
            : { lsn, length: payload.length, hex: hex(payload) },
      )
    }
  }
}

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "tail",
  {
    journal: Argument.String("journal").pipe(Argument.withDescription("Path of the journal file")),
    follow: Flag.Boolean("follow").pipe(
      Flag.withAlias("f"),
      Flag.withDescription("Keep printing new records as they are written, until interrupted"),
      Flag.withDefault(false),
    ),
    format: Flag.Literals("format", ["utf8", "hex", "json"]).pipe(
      Flag.withDescription("How to print payloads"),
      Flag.withDefault("utf8"),
    ),
    from: Flag.Int("from").pipe(
      Flag.withDescription("Start at this LSN (a record boundary, e.g. one printed earlier)"),
      Flag.optional,
    ),
    lines: Flag.Int("lines").pipe(
      Flag.withAlias("n"),
      Flag.withDescription("Start with the last N records (with --follow: then keep following)"),
      Flag.optional,
    ),
    legacyGaps: legacyGapsFlag,
  },
  ({ journal, follow, format, from, lines, legacyGaps }) =>
    Effect.gen(function* () {
      const readable = yield* JournalFile.checkReadable(journal)
      if (Option.isSome(lines) && !(lines.value >= 0 && lines.value <= MAX_LINES)) {
        return yield* Failure.usage(`--lines must be in [0, ${MAX_LINES}]`)
      }
      // The scan finds the clean end and, for --lines, the LSN of the N-th record from the end
      // (a ring of N LSNs: bounded memory however long the journal is).
      const keep = Option.isSome(lines) ? lines.value : 0
      const ring = new Float64Array(Math.max(1, keep))
      let seen = 0
      const scan = yield* JournalReader.scan(journal, {
        legacyGaps,
        ...(keep > 0 ? { onRecord: (lsn: number) => void (ring[seen++ % keep] = lsn) } : {}),
      })
      if (JournalFile.isNotAJournal(readable, scan)) return yield* JournalFile.notAJournal(journal, scan.tailState)
      if (Option.isSome(from) && (from.value < 0 || from.value > scan.cleanEnd)) {
        return yield* Failure.usage(`--from ${from.value} is outside the journal [0, ${scan.cleanEnd}]`)
      }
      const start = Option.isSome(lines)
        ? keep === 0
          ? scan.cleanEnd
          : seen <= keep
            ? 0
            : ring[seen % keep]!
        : Option.isSome(from)
          ? from.value
          : 0
      const records = JournalReader.records(journal, { legacyGaps, follow, from: start })
      yield* Stream.runForEachArray(records, (batch) =>
        batch.length === 0
          ? Effect.void
          : Console.log(batch.map((r) => formatRecord(r.lsn, r.payload, format)).join("\n")),
      )
    }).pipe(Effect.mapError(Failure.fromError)),
).pipe(Command.withDescription("Print records (utf8, hex or json); --follow prints new records as they are written"))
