/**
 * Bounds on the log buffer's slot size (fsys accepts 4 KiB–64 MiB per slot).
 *
 * @since 0.1.0
 */
export const CAPACITY_BYTES_MIN = 4 * 1024
export const CAPACITY_BYTES_MAX = 64 * 1024 * 1024
