/**
 * The io_uring kernel ABI as numbers: struct layouts, opcodes and flags from
 * `include/uapi/linux/io_uring.h`. Offsets are in bytes unless the name says `Word` (u32 index).
 *
 * @internal
 */

/** `struct io_uring_params` is 120 bytes. */
export const PARAMS_BYTES = 120
export const PARAMS_SQ_ENTRIES = 0
export const PARAMS_CQ_ENTRIES = 4
export const PARAMS_FLAGS = 8
export const PARAMS_FEATURES = 20
/** `struct io_sqring_offsets` at 40: head, tail, ring_mask, ring_entries, flags, dropped, array. */
export const PARAMS_SQ_OFF = 40
/** `struct io_cqring_offsets` at 80: head, tail, ring_mask, ring_entries, overflow, cqes, flags. */
export const PARAMS_CQ_OFF = 80

export const SQ_OFF_HEAD = 0
export const SQ_OFF_TAIL = 4
export const SQ_OFF_RING_MASK = 8
export const SQ_OFF_RING_ENTRIES = 12
export const SQ_OFF_FLAGS = 16
export const SQ_OFF_DROPPED = 20
export const SQ_OFF_ARRAY = 24

export const CQ_OFF_HEAD = 0
export const CQ_OFF_TAIL = 4
export const CQ_OFF_RING_MASK = 8
export const CQ_OFF_RING_ENTRIES = 12
export const CQ_OFF_OVERFLOW = 16
export const CQ_OFF_CQES = 20

/** mmap offsets of the three regions. */
export const IORING_OFF_SQ_RING = 0
export const IORING_OFF_CQ_RING = 0x8000000
export const IORING_OFF_SQES = 0x10000000

/** One SQE is 64 bytes (16 words), one CQE 16 bytes (4 words) without the *128 setup flags. */
export const SQE_BYTES = 64
export const SQE_WORDS = 16
export const CQE_BYTES = 16
export const CQE_WORDS = 4

/**
 * SQE words: 0 opcode|flags<<8|ioprio<<16, 1 fd, 2-3 off, 4-5 addr, 6 len, 7 rw_flags/fsync_flags/
 * cancel_flags, 8-9 user_data, 10 buf_index|personality<<16, 11 splice_fd_in, 12-15 addr3/pad.
 */
export const SQE_WORD_OPCODE_FLAGS = 0
export const SQE_WORD_FD = 1
export const SQE_WORD_OFF_LO = 2
export const SQE_WORD_OFF_HI = 3
export const SQE_WORD_ADDR_LO = 4
export const SQE_WORD_ADDR_HI = 5
export const SQE_WORD_LEN = 6
export const SQE_WORD_OP_FLAGS = 7
export const SQE_WORD_USER_DATA_LO = 8
export const SQE_WORD_USER_DATA_HI = 9
export const SQE_WORD_BUF_INDEX = 10

/** CQE words: 0-1 user_data, 2 res (i32), 3 flags. */
export const CQE_WORD_USER_DATA_LO = 0
export const CQE_WORD_USER_DATA_HI = 1
export const CQE_WORD_RES = 2

// Setup flags
export const IORING_SETUP_CLAMP = 1 << 4
export const IORING_SETUP_SUBMIT_ALL = 1 << 7

// Features reported by setup
export const IORING_FEAT_SINGLE_MMAP = 1 << 0
export const IORING_FEAT_NODROP = 1 << 1

export const featureNames: ReadonlyArray<string> = [
  "SINGLE_MMAP",
  "NODROP",
  "SUBMIT_STABLE",
  "RW_CUR_POS",
  "CUR_PERSONALITY",
  "FAST_POLL",
  "POLL_32BITS",
  "SQPOLL_NONFIXED",
  "EXT_ARG",
  "NATIVE_WORKERS",
  "RSRC_TAGS",
  "CQE_SKIP",
  "LINKED_FILE",
  "REG_REG_RING",
  "RECVSEND_BUNDLE",
  "MIN_TIMEOUT",
  "RW_ATTR",
  "NO_IOWAIT",
]

// io_uring_enter flags
export const IORING_ENTER_GETEVENTS = 1 << 0

// SQ ring flags (kernel → us)
export const IORING_SQ_CQ_OVERFLOW = 1 << 1

// Opcodes
export const IORING_OP_NOP = 0
export const IORING_OP_FSYNC = 3
export const IORING_OP_READ_FIXED = 4
export const IORING_OP_WRITE_FIXED = 5
export const IORING_OP_ASYNC_CANCEL = 14
export const IORING_OP_READ = 22
export const IORING_OP_WRITE = 23

export const opcodeNames: Readonly<Record<number, string>> = {
  [IORING_OP_NOP]: "NOP",
  [IORING_OP_FSYNC]: "FSYNC",
  [IORING_OP_READ_FIXED]: "READ_FIXED",
  [IORING_OP_WRITE_FIXED]: "WRITE_FIXED",
  [IORING_OP_ASYNC_CANCEL]: "ASYNC_CANCEL",
  [IORING_OP_READ]: "READ",
  [IORING_OP_WRITE]: "WRITE",
}

// SQE flags
export const IOSQE_IO_LINK = 1 << 2
/** The kernel runs the SQE in its io-wq worker instead of trying it inline in io_uring_enter. */
export const IOSQE_ASYNC = 1 << 4

// Op flags
export const IORING_FSYNC_DATASYNC = 1 << 0
export const RWF_DSYNC = 0x2
export const IORING_ASYNC_CANCEL_ANY = 1 << 2

// io_uring_register opcodes
export const IORING_REGISTER_BUFFERS = 0
export const IORING_UNREGISTER_BUFFERS = 1
export const IORING_REGISTER_PROBE = 8
/** 5.13+: register a table described by `struct io_uring_rsrc_register` (32 bytes). */
export const IORING_REGISTER_BUFFERS2 = 15
/** 5.13+: replace table entries, described by `struct io_uring_rsrc_update2` (32 bytes). */
export const IORING_REGISTER_BUFFERS_UPDATE = 16
/** `io_uring_rsrc_register.flags`: every entry starts empty (5.19+). */
export const IORING_RSRC_REGISTER_SPARSE = 1
/** Size of both `io_uring_rsrc_register` and `io_uring_rsrc_update2`; it is their `nr_args`. */
export const RSRC_STRUCT_BYTES = 32
/** One `struct iovec`: base u64, length u64. */
export const IOVEC_BYTES = 16

/** `struct io_uring_probe`: 16-byte header (last_op u8, ops_len u8), then 8-byte ops. */
export const PROBE_HEADER_BYTES = 16
export const PROBE_OP_BYTES = 8
export const PROBE_OPS_MAX = 256
export const IO_URING_OP_SUPPORTED = 1 << 0

/** errno values the ring reacts to. */
export const EINTR = 4
export const EAGAIN = 11
export const EBUSY = 16
export const EBADF = 9
export const EFAULT = 14
export const EINVAL = 22
export const ENOMEM = 12
export const ECANCELED = 125
