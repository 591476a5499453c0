/**
 * A one-line progress display on stderr for long operations (verify, demo, bench). On a terminal
 * the line is redrawn in place at most every `REDRAW_MILLIS`; when stderr is not a terminal
 * (pipes, CI, tests) nothing is drawn, so output stays clean for machines.
 */

/** Redraws at most this often: a progress line must not cost the work it reports on. */
const REDRAW_MILLIS = 100

export interface Progress {
  /** Updates the line (drawn only if enough time passed, unless `force`). */
  readonly update: (text: string, force?: boolean) => void
  /** Clears the line. */
  readonly done: () => void
}

/** Whether progress is drawn: stderr is a terminal. */
export const enabled = (): boolean => process.stderr.isTTY === true

export const make = (): Progress => {
  if (!enabled()) return { update: () => {}, done: () => {} }
  let lastDrawMillis = 0
  let drawn = false
  return {
    update: (text, force = false) => {
      const now = performance.now()
      if (!force && now - lastDrawMillis < REDRAW_MILLIS) return
      lastDrawMillis = now
      drawn = true
      const width = process.stderr.columns ?? 80
      process.stderr.write(`\r\x1b[2K${text.length >= width ? text.slice(0, width - 1) : text}`)
    },
    done: () => {
      if (drawn) process.stderr.write("\r\x1b[2K")
      drawn = false
    },
  }
}

/** `[████████░░░░] 67%` */
export const bar = (fraction: number, widthChars = 24): string => {
  const clamped = Math.min(1, Math.max(0, fraction))
  const filled = Math.round(clamped * widthChars)
  return `[${"█".repeat(filled)}${"░".repeat(widthChars - filled)}] ${(clamped * 100).toFixed(0).padStart(3)}%`
}
