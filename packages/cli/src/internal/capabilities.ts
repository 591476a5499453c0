/**
 * How `fsys probe` and `fsys demo` show a capability report to a person.
 */
import type { Capabilities } from "@fsys/core"

const yesNo = (value: boolean | "unknown"): string => (value === "unknown" ? "unknown" : value ? "yes" : "no")
const size = (value: number | "unknown"): string => (value === "unknown" ? "unknown" : `${value} B`)

/** Label/value rows, in the order a person reads them. */
export const rows = (c: Capabilities.Capabilities): Array<readonly [string, string]> => [
  [
    "filesystem",
    `${c.filesystem} on ${c.device} (${c.deviceNumber}), ${c.deviceKind} device${c.rotational === true ? ", rotational" : c.rotational === false ? ", non-rotational" : ""}`,
  ],
  ["block size", `logical ${size(c.logicalBlockSize)}, physical ${size(c.physicalBlockSize)}`],
  ["direct IO", `${yesNo(c.directIo)}: ${c.directIoReason}`],
  [
    "DIO alignment",
    `memory ${size(c.dioMemAlign)}, offset ${size(c.dioOffsetAlign)} → journal sectors of ${c.sectorBytes} B`,
  ],
  ["io_uring", `${yesNo(c.ioUring.available)}: ${c.ioUring.reason}`],
  [
    "write cache",
    `${c.writeCache}; FUA ${yesNo(c.fua)}${c.writeCache === "write back" ? " (durability needs a flush: fdatasync)" : ""}`,
  ],
  ["kernel", c.kernel],
]

/** The rows as indented, aligned text. */
export const render = (c: Capabilities.Capabilities, indent = "  "): string => {
  const all = rows(c)
  const width = Math.max(...all.map(([label]) => label.length))
  return all.map(([label, value]) => `${indent}${label.padEnd(width)}  ${value}`).join("\n")
}
