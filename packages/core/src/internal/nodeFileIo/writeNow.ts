/**
 * The Node layer's callback-form writes (`../callbackIo.ts`), for the log buffer's writer: a
 * Direct round over pwrite is one `LibcCallback.startPwrite` and one `startFdatasync` on the
 * threadpool with the fd pinned until the last of them returned, and no fiber. Only whole writes
 * of `AlignedMemory` (the slots) take this path; ordinary JS memory goes through `node:fs` in the
 * Effect operation, and so does the rest of a short write, so the loop's rules stay in one place
 * (`../positional.ts`).
 *
 * @internal
 */
import type { Effect } from "effect"
import { AlignedMemory, IoError, LibcCallback } from "@fsys/native"
import type { Handle } from "../../FileIo.ts"
import * as CallbackIo from "../callbackIo.ts"
import * as Positional from "../positional.ts"
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
  (handle, bytes, offsetBytes, datasync, done) => {
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
    const finish = (failure: IoError.IoError | undefined): void => {
      unpin(file)
      done(failure)
    }
    LibcCallback.startPwrite(file.fd, bytes, offsetBytes, file.path, (written) => {
      if (written instanceof IoError.IoError) finish(written)
      else if (written <= 0) finish(IoError.fromErrno("ESHORT", "pwrite", file.path))
      else if (written < lengthBytes) {
        // The rest through the Effect loop, with our pin held until it is done.
        const rest = writeAt(handle, bytes.subarray(written), offsetBytes + written, datasync)
        CallbackIo.runToDone(rest, file.path, done, () => unpin(file))
      } else if (!datasync) finish(undefined)
      else {
        LibcCallback.startFdatasync(file.fd, file.path, (synced) =>
          finish(synced instanceof IoError.IoError ? synced : undefined),
        )
      }
    })
  }
