/**
 * Formatting for the fsys command's human-readable output: sizes, rates, durations, aligned
 * tables and size histograms. Pure functions, no IO.
 */

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const

/** `1536` → `"1.5 KiB"`. */
export const bytes = (count: number): string => {
  let value = count
  let unit = 0
  while (Math.abs(value) >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${BYTE_UNITS[unit]}`
}

/** `1234567` → `"1.23 M"`; for records/s and similar counts. */
export const count = (value: number): string => {
  if (value >= 1e9) return `${(value / 1e9).toFixed(2)} G`
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} K`
  return value >= 100 ? value.toFixed(0) : value.toFixed(value >= 10 ? 1 : 2)
}

/** `"1.2 GB/s"` in decimal units, as disk bandwidth is usually quoted. */
export const bandwidth = (bytesPerSecond: number): string => {
  if (bytesPerSecond >= 1e9) return `${(bytesPerSecond / 1e9).toFixed(2)} GB/s`
  if (bytesPerSecond >= 1e6) return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`
  return `${(bytesPerSecond / 1e3).toFixed(1)} KB/s`
}

/** Milliseconds as `"850 ms"` or `"2.4 s"`. */
export const millis = (value: number): string =>
  value >= 1000 ? `${(value / 1000).toFixed(1)} s` : value >= 10 ? `${value.toFixed(0)} ms` : `${value.toFixed(2)} ms`

/**
 * An aligned text table: the first row is the header; numeric-looking cells are right-aligned.
 */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths: Array<number> = []
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length)
    })
  }
  const numeric = /^[-+]?[\d.,]+(\s?[a-zA-Z%/×]*)?$/
  return rows
    .map((row, r) =>
      row
        .map((cell, i) => {
          const width = widths[i] ?? 0
          return r > 0 && numeric.test(cell) ? cell.padStart(width) : cell.padEnd(width)
        })
        .join("  ")
        .trimEnd(),
    )
    .join("\n")
}

/** The number of power-of-two buckets a size histogram has (sizes up to 2^28, the max payload). */
export const HISTOGRAM_BUCKETS = 29

/** Index of the power-of-two bucket holding `size`: bucket b holds sizes in [2^(b-1), 2^b). */
export const bucketOf = (size: number): number =>
  size === 0 ? 0 : Math.min(HISTOGRAM_BUCKETS - 1, 32 - Math.clz32(size))

/** The byte range bucket `bucket` holds: [2^(b-1), 2^b − 1], or exactly 0 for bucket 0. */
export const bucketRange = (bucket: number): { readonly minBytes: number; readonly maxBytes: number } =>
  bucket === 0 ? { minBytes: 0, maxBytes: 0 } : { minBytes: 2 ** (bucket - 1), maxBytes: 2 ** bucket - 1 }

/** A text bar chart of a size histogram, one line per bucket. */
export const histogram = (
  buckets: ReadonlyArray<{ readonly minBytes: number; readonly maxBytes: number; readonly records: number }>,
  widthChars = 40,
): string => {
  const max = Math.max(1, ...buckets.map((b) => b.records))
  return buckets
    .map(({ minBytes, maxBytes, records }) => {
      const label = maxBytes === 0 ? "0 B" : `${bytes(minBytes)} – ${bytes(maxBytes)}`
      const bar = "█".repeat(Math.max(1, Math.round((records / max) * widthChars)))
      return `  ${label.padStart(21)}  ${String(records).padStart(10)}  ${bar}`
    })
    .join("\n")
}
