import { describe, expect, it } from "vitest"
import { IoError } from "@fsys/native"

describe("IoError", () => {
  it("maps errno numbers, negative CQE results and Node codes to one closed set of reasons", () => {
    expect(IoError.fromErrno(5, "fdatasync", "/x").reason).toBe("Io")
    expect(IoError.fromErrno(-28, "io_uring:WRITE", "/x").code).toBe("ENOSPC")
    expect(IoError.fromErrno("ENOENT", "open", "/x").reason).toBe("NotFound")
    expect(IoError.fromErrno(9999, "open", "/x").reason).toBe("Unknown")
    const e = IoError.fromNodeError(Object.assign(new Error("x"), { code: "EACCES" }), "open", "/y")
    expect(e._tag).toBe("IoError")
    expect(e.message).toBe("open failed on /y: EACCES (PermissionDenied)")
  })
})
