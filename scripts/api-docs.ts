/**
 * Writes the API reference, `docs/api/`, from the doc comments: one Markdown page per public
 * module of every package, its exports grouped by `@category`, each with its `@since`, its text and
 * its declaration exactly as a user's compiler sees it (the built `dist/*.d.ts`).
 *
 * Why our own ~150 lines rather than TypeDoc: TypeDoc drives the TypeScript 5 compiler API, which
 * TypeScript 7 (native, ours) does not have; it would need a second compiler in the lock, and its
 * run over five packages takes longer than our whole typecheck. The `.d.ts` that `scripts/build.ts`
 * emits are regular (tsc prints every top-level statement from column 0), so reading them is
 * straightforward. Module comments come from the sources (tsc drops a file's leading comment from
 * the declarations when the import it sits on is elided).
 *
 * The test command runs it, so a comment or declaration it cannot read fails the suite. Exports
 * without `@since` or `@category` are listed on the index page (the style wants both).
 * `docs/api/` is not committed: it is derived, and eight branches regenerating it would conflict.
 *
 * Run: `node scripts/build.ts && node scripts/api-docs.ts` (the root `docs` script).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const ROOT = fileURLToPath(new URL("..", import.meta.url))
const OUT = join(ROOT, "docs", "api")
/** A declaration longer than this many lines is shown cut (a huge inline type is noise). */
const DECLARATION_LINES_MAX = 60

interface Doc {
  readonly text: string
  readonly since: string | undefined
  readonly category: string | undefined
}

interface Entry {
  readonly name: string
  readonly doc: Doc
  readonly declaration: string
}

const parseDoc = (comment: string): Doc => {
  const lines = comment
    .replace(/^\/\*\*/, "")
    .replace(/\*\/$/, "")
    .split("\n")
    .map((line) => line.replace(/^\s*\* ?/, ""))
  let since: string | undefined
  let category: string | undefined
  const text: Array<string> = []
  for (const line of lines) {
    const tag = /^@(\w+)\s*(.*)$/.exec(line.trim())
    if (tag?.[1] === "since") since = tag[2]
    else if (tag?.[1] === "category") category = tag[2]
    else if (tag?.[1] === "example") text.push("", "**Example**")
    else text.push(line)
  }
  return { text: text.join("\n").trim(), since, category }
}

/** The first doc comment of a source file: the module's description. */
const moduleDoc = (source: string): Doc => {
  const match = /^\s*(\/\*\*[\s\S]*?\*\/)/.exec(source)
  return match === null ? { text: "", since: undefined, category: undefined } : parseDoc(match[1]!)
}

const exportName = (line: string): string => {
  const match =
    /^export\s+(?:declare\s+)?(?:abstract\s+)?(?:const|function|class|interface|type|namespace|enum)\s+(\w+)/.exec(line)
  return match?.[1] ?? line.replace(/;$/, "")
}

/** Reads a `.d.ts`: every top-level `export` with the doc comment right above it. */
const parseDeclarations = (text: string): Array<Entry> => {
  const lines = text.split("\n")
  const entries: Array<Entry> = []
  let pendingDoc: string | undefined
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!
    if (line.startsWith("/**")) {
      const start = index
      while (!lines[index]!.includes("*/")) index++
      pendingDoc = lines.slice(start, index + 1).join("\n")
      continue
    }
    // `export {};` is tsc's module marker, not an export.
    if (!line.startsWith("export ") || line === "export {};") {
      if (line.trim() !== "") pendingDoc = undefined
      continue
    }
    const start = index
    // A statement ends on its own line with `;`, or at the first column-0 line that closes it.
    if (!(line.endsWith(";") || line.endsWith("}"))) {
      while (index + 1 < lines.length && !lines[index + 1]!.startsWith("}")) index++
      index++
    }
    let declaration = lines.slice(start, index + 1)
    if (declaration.length > DECLARATION_LINES_MAX) {
      declaration = [...declaration.slice(0, DECLARATION_LINES_MAX), "    // … (cut)"]
    }
    const doc = pendingDoc === undefined ? { text: "", since: undefined, category: undefined } : parseDoc(pendingDoc)
    entries.push({ name: exportName(line), doc, declaration: declaration.join("\n") })
    pendingDoc = undefined
  }
  return entries
}

const renderModule = (packageName: string, module: string, doc: Doc, entries: ReadonlyArray<Entry>): string => {
  const out = [`# ${packageName}/${module}`, "", doc.text, ""]
  if (doc.since !== undefined) out.push(`Since ${doc.since}.`, "")
  const categories = new Map<string, Array<Entry>>()
  for (const entry of entries) {
    const category = entry.doc.category ?? "other"
    categories.set(category, [...(categories.get(category) ?? []), entry])
  }
  for (const [category, members] of [...categories].sort(([a], [b]) => a.localeCompare(b))) {
    out.push(`## ${category}`, "")
    for (const entry of members) {
      out.push(`### ${entry.name}`, "")
      if (entry.doc.text !== "") out.push(entry.doc.text, "")
      out.push("```ts", entry.declaration, "```", "")
      if (entry.doc.since !== undefined) out.push(`Since ${entry.doc.since}`, "")
    }
  }
  return out.join("\n")
}

interface ModulePage {
  readonly packageName: string
  readonly module: string
  readonly file: string
  readonly summary: string
  readonly undocumented: ReadonlyArray<string>
}

const documentPackage = (dir: string): Array<ModulePage> => {
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"))
  const packageName: string = manifest.name
  const dist = join(dir, "dist")
  if (!existsSync(dist)) throw new Error(`api-docs: ${dist} is missing; run node scripts/build.ts first`)
  const pages: Array<ModulePage> = []
  for (const file of readdirSync(dist)
    .filter((name) => name.endsWith(".d.ts"))
    .sort()) {
    const module = file.slice(0, -".d.ts".length)
    if (module === "index") continue
    const source = readFileSync(join(dir, "src", `${module}.ts`), "utf8")
    const doc = moduleDoc(source)
    const entries = parseDeclarations(readFileSync(join(dist, file), "utf8"))
    const pageFile = `${packageName.replace("@fsys/", "")}/${module}.md`
    mkdirSync(join(OUT, packageName.replace("@fsys/", "")), { recursive: true })
    writeFileSync(join(OUT, pageFile), renderModule(packageName, module, doc, entries))
    const undocumented = entries
      .filter((entry) => !entry.declaration.startsWith("export {") && !entry.declaration.startsWith("export *"))
      .filter((entry) => entry.doc.since === undefined || entry.doc.category === undefined)
      .map((entry) => `${module}.${entry.name}`)
    pages.push({ packageName, module, file: pageFile, summary: doc.text.split("\n\n")[0]!, undocumented })
  }
  return pages
}

const main = (): void => {
  rmSync(OUT, { recursive: true, force: true })
  mkdirSync(OUT, { recursive: true })
  const packagesDir = join(ROOT, "packages")
  const pages = readdirSync(packagesDir)
    .sort()
    .flatMap((name) => documentPackage(join(packagesDir, name)))
  const index = ["# API reference", "", "Generated by `scripts/api-docs.ts` from the doc comments; do not edit.", ""]
  for (const packageName of [...new Set(pages.map((page) => page.packageName))]) {
    index.push(`## ${packageName}`, "", "| module | what it is |", "| --- | --- |")
    for (const page of pages.filter((candidate) => candidate.packageName === packageName)) {
      index.push(`| [${page.module}](${page.file}) | ${page.summary.replace(/\s+/g, " ").replace(/\|/g, "\\|")} |`)
    }
    index.push("")
  }
  const undocumented = pages.flatMap((page) => page.undocumented.map((name) => `${page.packageName}/${name}`))
  if (undocumented.length > 0) {
    index.push("## Exports missing `@since` or `@category`", "", ...undocumented.map((name) => `- ${name}`), "")
  }
  writeFileSync(join(OUT, "README.md"), index.join("\n"))
  console.log(`api-docs: ${pages.length} modules to docs/api/ (${undocumented.length} exports lack @since/@category)`)
}

main()
