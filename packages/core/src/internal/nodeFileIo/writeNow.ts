/**
 * The Node layer's callback-form writes (`../callbackIo.ts`), for the log buffer's writer: a round
 * over pwrite is one `fs.write` and one `fs.fdatasync` on the threadpool (libuv retries EINTR),
 * with the fd pinned and the slot's `AlignedMemory` held (`AlignedMemory.hold`: it is not freed
 * before the thread is done, fsys bug FS-C2) until the last of them returned, and no fiber. Only
 * whole writes of `AlignedMemory` (the slots) take this path; anything else, and the rest of a
 * short write, goes through the Effect operation, so the loop's rules stay in one place
 * (`../positional.ts`).
 *
 * @internal
 */
import type { Effect } from "effect"
import * as NodeFs from "node:fs"
import { AlignedMemory, IoError } from "@fsys/native"
import type { Handle } from "../../FileIo.ts"
import * as CallbackIo from "../callbackIo.ts"
import * as Positional from "../positional.ts"
import { assert } from "../assert.ts"
import { badDescriptor, fromHandle, pin, unpin } from "./openFile.ts"

/** The layer's Effect operation: `writeAt`, or `writeAtThenDatasync` with `datasync`. */
export type WriteAt = (
  handle: Handle,
  bytes: Uint8Array,
  offsetBytes: number,
  datasync: boolean,
) => Effect.Effect<void, IoError.IoError>

export const writeNowOf =
  (writeAt: WriteAt): CallbackIo.CallbackIo["write"] =>
  (handle, bytes, offsetBytes, sync, done) => {
    // This layer has no `writeAtDsync` (`fs.write` takes no RWF flags): the log buffer never asks.
    assert(sync !== "dsync", "the Node layer offers no dsync write")
    const datasync = sync === "datasync"
    const lengthBytes = bytes.byteLength
    if (
      !AlignedMemory.isNative(bytes) ||
      !Number.isSafeInteger(offsetBytes) ||
      offsetBytes < 0 ||
      lengthBytes === 0 ||
      lengthBytes > Positional.BYTES_PER_CALL_MAX
    ) {
      CallbackIo.runToDone(writeAt(handle, bytes, offsetBytes, datasync), handle.path, done)
      return
    }
    const file = fromHandle(handle)
    if (file === undefined || !pin(file)) {
      done(badDescriptor(handle, datasync ? "pwrite+fdatasync" : "pwrite"))
      return
    }
    // The memory stays allocated until the thread is done with it (fsys bug FS-C2).
    const release = AlignedMemory.hold(bytes)
    const finish = (failure: IoError.IoError | undefined): void => {
      release?.()
      unpin(file)
      done(failure)
    }
    NodeFs.write(file.fd, bytes, 0, lengthBytes, offsetBytes, (error, written) => {
      if (error !== null) finish(IoError.fromNodeError(error, "pwrite", file.path))
      else if (written <= 0) finish(IoError.fromErrno("ESHORT", "pwrite", file.path))
      else if (written < lengthBytes) {
        // The rest through the Effect loop, with our pin and hold kept until it is done.
        const rest = writeAt(handle, bytes.subarray(written), offsetBytes + written, datasync)
        CallbackIo.runToDone(rest, file.path, done, () => {
          release?.()
          unpin(file)
        })
      } else if (!datasync) finish(undefined)
      else {
        NodeFs.fdatasync(file.fd, (synced) =>
          finish(synced === null ? undefined : IoError.fromNodeError(synced, "fdatasync", file.path)),
        )
      }
    })
  }
