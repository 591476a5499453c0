/**
 * Every way a journal operation can fail, as one closed union of tagged errors.
 *
 * Input errors (`RecordTooLarge`, `InvalidOptions`, `LsnOutOfRange`) are raised before anything
 * touches the disk, so a rejected call changes nothing. `JournalPoisoned` is sticky: after the
 * first failed write, flush or fdatasync every later append and every sync that is not already
 * covered fails with it, carrying the original `IoError` (a failed fdatasync is never retried:
 * Linux may have dropped the dirty pages and would report success the second time). System call
 * failures outside that path (open, lock, scan) surface as the `IoError` itself.
 *
 * @since 0.1.0
 */
import { Data } from "effect"
import type { IoError } from "@fsys/native"

/**
 * A payload larger than `Frame.PAYLOAD_BYTES_MAX`; nothing was reserved or written.
 *
 * @since 0.1.0
 * @category errors
 */
export class RecordTooLarge extends Data.TaggedError("RecordTooLarge")<{
  readonly payloadBytes: number
  readonly maxPayloadBytes: number
}> {
  override get message(): string {
    return `record of ${this.payloadBytes} bytes exceeds the maximum payload of ${this.maxPayloadBytes} bytes`
  }
}

/**
 * An option outside its documented range; nothing was opened or written.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOptions extends Data.TaggedError("InvalidOptions")<{
  readonly option: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid option ${this.option}: ${this.reason}`
  }
}

/**
 * `syncThrough(lsn)` with an LSN that is negative, not an integer, or beyond `nextLsn`.
 *
 * @since 0.1.0
 * @category errors
 */
export class LsnOutOfRange extends Data.TaggedError("LsnOutOfRange")<{
  readonly lsn: number
  readonly nextLsn: number
}> {
  override get message(): string {
    return `LSN ${this.lsn} is out of range: the journal's next LSN is ${this.nextLsn}`
  }
}

/**
 * The handle was closed (or its Scope ended) before the call.
 *
 * @since 0.1.0
 * @category errors
 */
export class JournalClosed extends Data.TaggedError("JournalClosed")<{
  readonly path: string
}> {
  override get message(): string {
    return `journal ${this.path} is closed`
  }
}

/**
 * A write, flush or fdatasync failed earlier; the journal accepts nothing until it is reopened.
 * Records durable before the failure stay durable and are recovered by the reopen.
 *
 * @since 0.1.0
 * @category errors
 */
export class JournalPoisoned extends Data.TaggedError("JournalPoisoned")<{
  readonly path: string
  /** The first failure, which poisoned the journal. */
  readonly cause: IoError.IoError
}> {
  override get message(): string {
    return `journal ${this.path} is poisoned by an earlier failure (${this.cause.message}); reopen it to recover`
  }
}

/**
 * Another handle — in this process or another — holds the journal's exclusive lock.
 *
 * @since 0.1.0
 * @category errors
 */
export class JournalLocked extends Data.TaggedError("JournalLocked")<{
  readonly path: string
}> {
  override get message(): string {
    return `journal ${this.path} is already open (locked by another handle or process)`
  }
}

/**
 * The file does not start with a journal frame (its first bytes are not fsys's magic). Open
 * refuses it rather than "recovering" someone else's data into a sidecar and truncating it.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotAJournal extends Data.TaggedError("NotAJournal")<{
  readonly path: string
  readonly fileSize: number
}> {
  override get message(): string {
    return `${this.path} is not an fsys journal (${this.fileSize} bytes that do not start with a frame); refusing to open it`
  }
}

/**
 * Recovery could not read the journal at `offsetBytes` (EIO: a latent sector error, or a
 * physical sector a power cut tore inside the device). Nothing was changed on disk. Records
 * before it can be kept by opening with `onReadError: "truncate"`: the open then saves
 * `[cleanEnd, size)` to a sidecar (unreadable bytes as zeros), cuts the log at the last intact
 * frame before the offset, and rewriting that range remaps the bad sector on most drives.
 *
 * @since 0.1.0
 * @category errors
 */
export class JournalUnreadable extends Data.TaggedError("JournalUnreadable")<{
  readonly path: string
  /** The first byte recovery could not read (aligned to the read unit). */
  readonly offsetBytes: number
  /** The last intact frame ends here: what `onReadError: "truncate"` would keep. */
  readonly cleanEnd: number
  readonly cause: IoError.IoError
}> {
  override get message(): string {
    return (
      `journal ${this.path} cannot be read at byte ${this.offsetBytes} (${this.cause.code}); nothing was changed. ` +
      `Open with onReadError: "truncate" to keep the records before it ([0, ${this.cleanEnd})) and save the rest to a sidecar`
    )
  }
}

/**
 * @since 0.1.0
 * @category errors
 */
export type JournalError =
  | IoError.IoError
  | RecordTooLarge
  | InvalidOptions
  | LsnOutOfRange
  | JournalClosed
  | JournalPoisoned
  | JournalLocked
  | NotAJournal
  | JournalUnreadable
