/**
 * The structure check: fails the test command when the code grows a shape a newcomer cannot
 * follow. It finds the class of defect, not one instance:
 *
 * - a file under `packages/<name>/src` longer than {@link FILE_LINES_MAX} lines;
 * - a function (declaration, expression, arrow or method, an `Effect.gen` body included) longer
 *   than {@link FUNCTION_LINES_MAX} lines, counted from its first token to its last;
 * - an import that points up the package's layering (a back-edge, see {@link LAYERS}): public
 *   modules and internal folders sit in ordered layers, and a file may import only from its own
 *   layer or a lower one;
 * - an import of another internal folder (`internal/A` → `internal/B/…`) that is not a declared
 *   edge of {@link INTERNAL_EDGES}: otherwise go through B's public module;
 * - a constant whose bound comes first (`MAX_X`, `MIN_X`, `DEFAULT_X`): the one convention is
 *   TigerStyle's qualifier last (`X_MAX`, `X_MIN`, `X_DEFAULT`), so a name sorts by what it bounds;
 *   a deprecated alias that keeps a 0.1.0 public name is exempt;
 * - an assertion helper defined, or an invariant thrown by hand (`fsys invariant violated`),
 *   anywhere but core's `internal/assert.ts`: one helper, one message, used everywhere;
 * - an import of another package by a relative path or by a subpath its `package.json` does not
 *   export (never `@fsys/core/internal/…`), and any package file, tests included, importing from
 *   or naming a path into the root `scripts/` folder.
 *
 * Files other helpers are still reshaping this session are listed in {@link ALLOWED}, each with
 * its reason; an entry that no longer matches anything fails the check too, so the list only
 * shrinks. Uses the TypeScript 7 API (`typescript/unstable/sync`) for the syntax tree: one tsgo
 * process parses every file, about 1 s.
 *
 * Run: `node scripts/check-structure.ts` (the root `structure` script; the test command runs it).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve, sep } from "node:path"
import { fileURLToPath } from "node:url"
import { SyntaxKind } from "typescript/unstable/ast"
import { API } from "typescript/unstable/sync"

const ROOT = fileURLToPath(new URL("..", import.meta.url))
/** The style's file limit (docs/ARCHITECTURE.md, "Code shape"). */
const FILE_LINES_MAX = 400
/** The style's function limit; a function this long no longer fits one screen. */
const FUNCTION_LINES_MAX = 70

type Rule =
  | "file-lines"
  | "function-lines"
  | "layering"
  | "internal-edge"
  | "package-boundary"
  | "scripts"
  | "qualifier-last"
  | "one-assert"

interface Finding {
  readonly rule: Rule
  /** Repository-relative path, `/`-separated. */
  readonly path: string
  readonly line: number
  readonly message: string
}

interface Allowance {
  readonly rule: Rule
  readonly path: string
  /** Who is changing it and why it may stay for now. */
  readonly reason: string
}

/**
 * Known findings that stay until another branch merges. The lead removes an entry when its branch
 * lands; an entry that matches nothing fails the check (so it cannot rot).
 */
const ALLOWED: ReadonlyArray<Allowance> = []

/**
 * Each package's layering, bottom-up. A unit is a public module (`Journal.ts`), an internal folder
 * (`internal/recovery`) or a single internal file (`internal/positional.ts`); a file imports only
 * units of its own layer or a lower one. docs/ARCHITECTURE.md draws the same picture.
 */
const LAYERS: Readonly<Record<string, ReadonlyArray<ReadonlyArray<string>>>> = {
  native: [
    ["IoError.ts", "InFlight.ts", "AlignedBuffer.ts", "internal/nodeVersion.ts", "internal/offThread.ts"],
    ["internal/memory.ts", "internal/libc", "Libc.ts"],
    ["AlignedMemory.ts", "Statx.ts"],
    ["internal/ioUring", "IoUring.ts"],
    ["IoUringCallback.ts"],
    ["index.ts"],
  ],
  core: [
    ["internal/assert.ts"],
    ["internal/crc", "Crc32c.ts"],
    ["internal/frame", "Frame.ts"],
    ["JournalError.ts", "internal/testing.ts", "internal/positional.ts", "internal/capabilities"],
    // The port and its default (a Context.Reference whose default value is the Node layer).
    ["FileIo.ts", "internal/nodeFileIo", "NodeFileIo.ts", "internal/callbackIo.ts"],
    ["internal/ioUring", "IoUringFileIo.ts"],
    ["FileIoAuto.ts", "Capabilities.ts", "internal/backend.ts"],
    // Sector arithmetic: plain functions that recovery and the engine share.
    ["internal/logBuffer/sectors.ts"],
    ["internal/reader"],
    ["internal/recovery"],
    ["internal/logBuffer", "LogBuffer.ts"],
    ["internal/journal", "Journal.ts"],
    // The public reader sits beside the journal: recovery and the engine use internal/reader.
    ["JournalReader.ts"],
    ["internal/segmented", "SegmentedJournal.ts"],
    ["promise.ts", "index.ts"],
  ],
  testkit: [
    ["internal/prng.ts", "Generators.ts"],
    ["internal/simulatedDisk", "SimulatedDisk.ts"],
    ["LogBufferTest.ts"],
    ["internal/crashHarness", "CrashHarness.ts"],
    ["internal/killNine", "KillNineHarness.ts"],
    ["internal/interruption", "Interruption.ts"],
    ["index.ts"],
  ],
  bench: [["Protocol.ts"], ["internal"], ["worker.ts", "index.ts"]],
  cli: [["internal"], ["commands"], ["Cli.ts", "index.ts"], ["bin.ts"]],
}

/**
 * Declared imports between internal folders of one package (`from → to`), each for a reason a
 * reader can check; any other goes through the target's public module.
 */
const INTERNAL_EDGES: Readonly<Record<string, ReadonlyArray<string>>> = {
  native: [
    "internal/ioUring → internal/libc", // the ring's syscalls are libc bindings
  ],
  core: [
    "internal/frame → internal/crc", // a frame's checksum
    "internal/nodeFileIo → internal/capabilities", // alignment reads the device's sysfs sizes
    "internal/ioUring → internal/nodeFileIo", // the ring layer opens files like the Node layer (direct: see report)
    "internal/reader → internal/frame", // the cursor decodes frames
    "internal/recovery → internal/reader", // recovery scans with the reader's cursor
    "internal/logBuffer → internal/recovery", // the live log buffer resumes a file before it writes
    "internal/logBuffer → internal/frame", // the seal fills its frames' CRCs in one batch
    "internal/logBuffer → internal/capabilities", // the writer bounds buffered copies by the CPUs
    "internal/journal → internal/logBuffer", // the journal drives the engine
    "internal/journal → internal/recovery",
    "internal/journal → internal/reader", // the durable follower reads back through the reader
    "internal/segmented → internal/reader",
    "internal/segmented → internal/frame",
    "internal/segmented → internal/journal", // segments share the journal's option parsing
    "internal/segmented → internal/recovery", // a recycled standby skips reading its zeros back
  ],
  testkit: [],
  bench: [],
  cli: [],
}

const posix = (path: string): string => path.split(sep).join("/")

const packageNames = readdirSync(join(ROOT, "packages")).filter((name) =>
  existsSync(join(ROOT, "packages", name, "package.json")),
)

interface PackageInfo {
  readonly dir: string
  readonly exports: ReadonlyArray<string>
}

const packagesByName = new Map<string, PackageInfo>()
for (const dir of packageNames) {
  const manifest = JSON.parse(readFileSync(join(ROOT, "packages", dir, "package.json"), "utf8")) as {
    name: string
    exports?: Record<string, unknown>
  }
  const exported = Object.entries(manifest.exports ?? {})
    .filter(([, target]) => target !== null)
    .map(([key]) => key)
  packagesByName.set(manifest.name, { dir, exports: exported })
}

/** Whether `subpath` (`.`, `./promise`) matches one of a package's export keys. */
const isExported = (info: PackageInfo, subpath: string): boolean =>
  info.exports.some((key) =>
    key.includes("*")
      ? subpath.startsWith(key.slice(0, key.indexOf("*"))) && !subpath.slice(key.indexOf("*")).includes("/")
      : key === subpath,
  )

/** The unit of a file inside `packages/<pkg>/src`: `Journal.ts`, `internal/recovery`, `commands`. */
const unitOf = (srcRelative: string, layers: ReadonlyArray<ReadonlyArray<string>>): string => {
  const parts = srcRelative.split("/")
  if (parts.length === 1) return parts[0]
  const folder = `${parts[0]}/${parts[1]}`
  const known = layers.flat()
  // A single file of a folder may sit in a lower layer than its folder (shared arithmetic).
  if (known.includes(srcRelative)) return srcRelative
  if (parts[0] === "internal" && parts.length === 2) return known.includes(folder) ? folder : parts[0]
  if (parts[0] === "internal" && known.includes(folder)) return folder
  return parts[0]
}

const layerOf = (unit: string, layers: ReadonlyArray<ReadonlyArray<string>>): number =>
  layers.findIndex((layer) => layer.includes(unit))

const importSpecifiers = (text: string): Array<{ specifier: string; line: number }> => {
  const found: Array<{ specifier: string; line: number }> = []
  const pattern = /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/g
  for (const match of text.matchAll(pattern)) {
    const specifier = match[1] ?? match[2]
    const offset = match.index + match[0].lastIndexOf(specifier)
    found.push({ specifier, line: text.slice(0, offset).split("\n").length })
  }
  return found
}

const findings: Array<Finding> = []

const ASSERT_HOME = "packages/core/src/internal/assert.ts"

/** Local assertion helpers and hand-thrown invariant defects, outside the one helper's file. */
const checkAssertions = (path: string, text: string): void => {
  if (path === ASSERT_HOME) return
  text.split("\n").forEach((line, index) => {
    const defined = /^\s*(?:export\s+)?(?:const|function)\s+(assert\w*)\b/.exec(line)
    const thrown = line.includes("throw new Error(") && line.includes("invariant violated")
    if (defined === null && !thrown) return
    findings.push({
      rule: "one-assert",
      path,
      line: index + 1,
      message:
        defined !== null
          ? `defines its own ${defined[1]}: use ${ASSERT_HOME}`
          : `throws an invariant by hand: use assert`,
    })
  })
}

/** `MAX_X =` style definitions (qualifier first); deprecated aliases of public names are exempt. */
const checkQualifiers = (path: string, text: string): void => {
  const lines = text.split("\n")
  lines.forEach((line, index) => {
    const match = /^\s*(?:export\s+)?(?:const|let)\s+((?:MAX|MIN|DEFAULT)_[A-Z0-9_]+)\b/.exec(line)
    if (match === null) return
    const docBefore = lines.slice(Math.max(0, index - 6), index).join("\n")
    if (docBefore.includes("@deprecated")) return
    findings.push({
      rule: "qualifier-last",
      path,
      line: index + 1,
      message: `${match[1]}: put the qualifier last (${match[1].replace(/^(MAX|MIN|DEFAULT)_(.*)$/, "$2_$1")})`,
    })
  })
}

const checkImports = (file: string, text: string): void => {
  const path = posix(relative(ROOT, file))
  const [, pkgDir, area] = path.split("/")
  const layers = LAYERS[pkgDir]
  const inSrc = area === "src"
  const srcRoot = join(ROOT, "packages", pkgDir, "src")
  const fromUnit = inSrc && layers !== undefined ? unitOf(posix(relative(srcRoot, file)), layers) : undefined
  for (const { specifier, line } of importSpecifiers(text)) {
    if (specifier.startsWith(".")) {
      const target = resolve(dirname(file), specifier)
      const targetPath = posix(relative(ROOT, target))
      if (targetPath.startsWith("scripts/")) {
        findings.push({ rule: "scripts", path, line, message: `imports ${specifier} from the root scripts/ folder` })
        continue
      }
      if (!targetPath.startsWith(`packages/${pkgDir}/`)) {
        findings.push({
          rule: "package-boundary",
          path,
          line,
          message: `imports ${specifier} by a relative path out of its package: import the package by name`,
        })
        continue
      }
      if (!inSrc || layers === undefined || fromUnit === undefined) continue
      if (!targetPath.startsWith(`packages/${pkgDir}/src/`)) continue
      const toUnit = unitOf(posix(relative(srcRoot, target)), layers)
      if (toUnit === fromUnit) continue
      const fromLayer = layerOf(fromUnit, layers)
      const toLayer = layerOf(toUnit, layers)
      if (fromLayer < 0 || toLayer < 0) {
        const missing = fromLayer < 0 ? fromUnit : toUnit
        findings.push({ rule: "layering", path, line, message: `${missing} is not in the layering table (LAYERS)` })
        continue
      }
      if (toLayer > fromLayer) {
        findings.push({
          rule: "layering",
          path,
          line,
          message: `back-edge: ${fromUnit} (layer ${fromLayer}) imports ${toUnit} (layer ${toLayer}) above it`,
        })
        continue
      }
      const bothFolders = fromUnit.startsWith("internal/") && toUnit.startsWith("internal/") && !toUnit.endsWith(".ts")
      if (bothFolders && !fromUnit.endsWith(".ts") && !INTERNAL_EDGES[pkgDir]?.includes(`${fromUnit} → ${toUnit}`)) {
        findings.push({
          rule: "internal-edge",
          path,
          line,
          message: `${fromUnit} reaches into ${toUnit}: not a declared edge (INTERNAL_EDGES); use its public module`,
        })
      }
      continue
    }
    const scoped = /^(@fsys\/[^/]+)(\/.*)?$/.exec(specifier)
    if (scoped === null) continue
    const info = packagesByName.get(scoped[1])
    const subpath = scoped[2] === undefined ? "." : `.${scoped[2]}`
    if (info === undefined || !isExported(info, subpath) || subpath.includes("/internal/")) {
      findings.push({
        rule: "package-boundary",
        path,
        line,
        message: `imports ${specifier}: not a public export of ${scoped[1]}`,
      })
    }
  }
  // A spawned script is an import by another name: `…/scripts/x.ts` from a package file.
  for (const match of text.matchAll(/["'`]((?:\.\.\/)+scripts\/[^"'`]+)["'`]/g)) {
    const line = text.slice(0, match.index).split("\n").length
    if (text.slice(0, match.index).split("\n").at(-1)?.trimStart().startsWith("import")) continue
    findings.push({ rule: "scripts", path, line, message: `names ${match[1]} in the root scripts/ folder` })
  }
}

const FUNCTION_KINDS = new Set<number>([
  SyntaxKind.FunctionDeclaration,
  SyntaxKind.FunctionExpression,
  SyntaxKind.ArrowFunction,
  SyntaxKind.MethodDeclaration,
  SyntaxKind.Constructor,
  SyntaxKind.GetAccessor,
  SyntaxKind.SetAccessor,
])

interface AstNode {
  readonly kind: number
  readonly end: number
  getStart(sourceFile?: unknown): number
  forEachChild<T>(visitor: (node: AstNode) => T): T | undefined
}

interface AstSourceFile extends AstNode {
  getLineAndCharacterOfPosition(position: number): { line: number }
}

const checkFunctions = (path: string, sourceFile: AstSourceFile): void => {
  const lineOf = (position: number): number => sourceFile.getLineAndCharacterOfPosition(position).line + 1
  // A wrapper (`const f = (a) => Effect.gen(function* () { … })`) and its body are one function:
  // only the outer one is reported when the inner spans nearly all of it.
  const visit = (node: AstNode, reportedSpan: number): undefined => {
    let span = reportedSpan
    if (FUNCTION_KINDS.has(node.kind)) {
      const first = lineOf(node.getStart(sourceFile))
      const lines = lineOf(node.end) - first + 1
      if (lines > FUNCTION_LINES_MAX && lines < reportedSpan - 5) {
        findings.push({
          rule: "function-lines",
          path,
          line: first,
          message: `a function of ${lines} lines (limit ${FUNCTION_LINES_MAX})`,
        })
        span = lines
      } else if (lines > FUNCTION_LINES_MAX) span = lines
    }
    node.forEachChild((child) => visit(child, span))
    return undefined
  }
  visit(sourceFile, Number.POSITIVE_INFINITY)
}

const walk = (dir: string, into: Array<string>): Array<string> => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "dist" || entry.name === "fixtures") continue
    const full = join(dir, entry.name)
    if (entry.isDirectory()) walk(full, into)
    else if (entry.name.endsWith(".ts")) into.push(full)
  }
  return into
}

const sourceFiles = packageNames.flatMap((dir) => walk(join(ROOT, "packages", dir, "src"), []))
const testFiles = packageNames.flatMap((dir) =>
  existsSync(join(ROOT, "packages", dir, "test")) ? walk(join(ROOT, "packages", dir, "test"), []) : [],
)

for (const file of sourceFiles) {
  const text = readFileSync(file, "utf8")
  const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0)
  const path = posix(relative(ROOT, file))
  if (lines > FILE_LINES_MAX) {
    findings.push({ rule: "file-lines", path, line: 1, message: `${lines} lines (limit ${FILE_LINES_MAX})` })
  }
  checkImports(file, text)
  checkQualifiers(path, text)
  checkAssertions(path, text)
}
for (const file of testFiles) checkImports(file, readFileSync(file, "utf8"))

const api = new API({ cwd: ROOT })
try {
  const snapshot = api.updateSnapshot({ openProjects: [join(ROOT, "tsconfig.json")] })
  const program = snapshot.getProjects()[0].program
  for (const file of sourceFiles) {
    const sourceFile = program.getSourceFile(file) as unknown as AstSourceFile | undefined
    if (sourceFile === undefined) throw new Error(`${file} is not in tsconfig.json's program`)
    checkFunctions(posix(relative(ROOT, file)), sourceFile)
  }
} finally {
  api.close()
}

const isAllowed = (finding: Finding): boolean =>
  ALLOWED.some((allowance) => allowance.rule === finding.rule && allowance.path === finding.path)
const failures = findings.filter((finding) => !isAllowed(finding))
const stale = ALLOWED.filter((allowance) =>
  findings.every((finding) => finding.rule !== allowance.rule || finding.path !== allowance.path),
)

for (const finding of findings.filter(isAllowed)) {
  console.log(`allowed  ${finding.path}:${finding.line} [${finding.rule}] ${finding.message}`)
}
for (const finding of failures) {
  console.log(`FAIL     ${finding.path}:${finding.line} [${finding.rule}] ${finding.message}`)
}
for (const allowance of stale) {
  console.log(`FAIL     ${allowance.path} [${allowance.rule}] allow-list entry matches nothing: remove it`)
}
const checked = `${sourceFiles.length} source files, ${testFiles.length} test files`
if (failures.length > 0 || stale.length > 0) {
  console.log(`structure: ${failures.length + stale.length} problem(s) in ${checked}`)
  process.exit(1)
}
console.log(`structure: ok (${checked}; ${findings.length} allowed)`)
