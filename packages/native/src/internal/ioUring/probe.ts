/**
 * Whether io_uring is usable here: the opcodes a kernel supports (IORING_REGISTER_PROBE) and the
 * verdict `IoUring.probe` reports, with the names of the feature bits. Diagnostic code, run once
 * per process at most, so it is kept out of the ring's hot path and out of the public module.
 *
 * @internal
 */
import type { Native } from "../libc/bindings.ts"
import * as Abi from "./abi.ts"

/**
 * Whether io_uring can be used here, and why not.
 *
 * @since 0.1.0
 * @category models
 */
export interface Availability {
  readonly available: boolean
  /**
   * errno name when unavailable: of the failed io_uring_setup (`ENOSYS`, `EPERM`, `ENOMEM`…), or
   * `EOPNOTSUPP` when the ring works but lacks an opcode fsys needs (kernels before 5.6).
   */
  readonly code?: string
  readonly features?: number
  readonly featureNames?: ReadonlyArray<string>
  readonly setupFlags?: number
  /** Opcodes fsys needs that this kernel does not support (names), when known. */
  readonly missingOpcodes?: ReadonlyArray<string>
}

/** The opcodes every FileIo operation relies on. */
const REQUIRED_OPCODES = [
  Abi.IORING_OP_READ,
  Abi.IORING_OP_WRITE,
  Abi.IORING_OP_READ_FIXED,
  Abi.IORING_OP_WRITE_FIXED,
  Abi.IORING_OP_FSYNC,
]

/**
 * Names of the `IORING_FEAT_*` bits set in `features`.
 *
 * @since 0.1.0
 * @category utils
 */
export const featureNames = (features: number): ReadonlyArray<string> =>
  Abi.featureNames.filter((_, bit) => (features & (1 << bit)) !== 0)

/** Opcodes the kernel supports (IORING_REGISTER_PROBE, 5.6+), or undefined where it cannot say. */
export const supportedOpcodes = (lib: Native, ringFd: number): ReadonlyArray<number> | undefined => {
  const probe = new Uint8Array(Abi.PROBE_HEADER_BYTES + Abi.PROBE_OPS_MAX * Abi.PROBE_OP_BYTES)
  if (lib.ioUringRegister(ringFd, Abi.IORING_REGISTER_PROBE, probe, Abi.PROBE_OPS_MAX) < 0) return undefined
  const opsLength = Math.min(probe[1]!, Abi.PROBE_OPS_MAX)
  const supported: Array<number> = []
  for (let i = 0; i < opsLength; i++) {
    const base = Abi.PROBE_HEADER_BYTES + i * Abi.PROBE_OP_BYTES
    const flags = probe[base + 2]! | (probe[base + 3]! << 8)
    if ((flags & Abi.IO_URING_OP_SUPPORTED) !== 0) supported.push(probe[base]!)
  }
  return supported
}

/** The verdict for a ring that was set up: available unless it lacks a required opcode. */
export const availabilityOf = (ring: {
  readonly features: number
  readonly setupFlags: number
  readonly supportedOpcodes: () => ReadonlyArray<number> | undefined
}): Availability => {
  const described = {
    features: ring.features,
    featureNames: featureNames(ring.features),
    setupFlags: ring.setupFlags,
  }
  const supported = ring.supportedOpcodes()
  // IORING_REGISTER_PROBE itself is 5.6+, like READ/WRITE: no answer means too old.
  const missing = REQUIRED_OPCODES.filter((opcode) => supported === undefined || !supported.includes(opcode)).map(
    (opcode) => Abi.opcodeNames[opcode] ?? `OP${opcode}`,
  )
  return missing.length === 0
    ? { available: true, ...described }
    : { available: false, code: "EOPNOTSUPP", missingOpcodes: missing, ...described }
}
