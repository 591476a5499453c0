/**
 * Test helpers: run the `fsys` binary as a subprocess (as a user would) and build journal files
 * byte by byte from frames, independent of the journal writer.
 */
import { spawn } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Frame } from "@fsys/core"

export const BIN = fileURLToPath(new URL("../src/bin.ts", import.meta.url))

export interface Run {
  readonly code: number | null
  readonly signal: string | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `fsys ...args`; kills it after `timeoutMillis`. */
export const fsys = (args: ReadonlyArray<string>, timeoutMillis = 30_000): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMillis)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })

/** A long-running `fsys` (e.g. `tail -f`) whose output can be awaited. */
export const spawnFsys = (args: ReadonlyArray<string>, timeoutMillis = 30_000) => {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const listeners = new Set<() => void>()
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk
    for (const listener of listeners) listener()
  })
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMillis)
  child.on("close", () => clearTimeout(timer))
  return {
    /** Resolves once stdout matches `pattern`; rejects if the process ends first. */
    waitFor: (pattern: RegExp): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(stdout)) {
            listeners.delete(check)
            resolve()
          }
        }
        listeners.add(check)
        child.once("close", () => reject(new Error(`fsys ended before printing ${pattern}: ${stdout}`)))
        check()
      }),
    kill: () => child.kill("SIGTERM"),
    /** Sends SIGINT (Ctrl-C) and resolves with how the process ended. */
    interrupt: (): Promise<{ readonly code: number | null; readonly signal: string | null }> =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          resolve({ code: child.exitCode, signal: child.signalCode })
          return
        }
        child.once("close", (code, signal) => resolve({ code, signal }))
        child.kill("SIGINT")
      }),
    /** Resolves once the process ends on its own, with its exit code and stderr. */
    exited: (): Promise<{ readonly code: number | null; readonly stderr: string }> =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          resolve({ code: child.exitCode, stderr })
          return
        }
        child.once("close", (code) => resolve({ code, stderr }))
      }),
    output: (): string => stdout,
  }
}

/** A failure must be exactly one line on stderr, without a stack trace. */
export const oneLine = (stderr: string): string => {
  const lines = stderr.trim().split("\n")
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}:\n${stderr}`)
  if (/^\s+at /m.test(stderr)) throw new Error(`stack trace on stderr:\n${stderr}`)
  return lines[0]!
}

export const encoder = new TextEncoder()

/** The bytes of a journal holding `payloads`, as the v1 format lays them out. */
export const journalBytes = (payloads: ReadonlyArray<string | Uint8Array>): Uint8Array => {
  const frames = payloads.map((p) => Frame.encode(typeof p === "string" ? encoder.encode(p) : p))
  const out = new Uint8Array(frames.reduce((n, f) => n + f.length, 0))
  let at = 0
  for (const frame of frames) {
    out.set(frame, at)
    at += frame.length
  }
  return out
}

export const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/** A fresh temp directory and a cleanup. */
export const tempDirectory = async (): Promise<{ readonly path: string; readonly cleanup: () => Promise<void> }> => {
  const path = await mkdtemp(join(tmpdir(), "fsys-cli-test-"))
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) }
}

export const writeJournal = async (path: string, bytes: Uint8Array): Promise<string> => {
  await writeFile(path, bytes)
  return path
}
