/**
 * Builds every published package (`packages/*`) from its sources to `dist/`: ESM JavaScript,
 * `.d.ts` and source maps, through `tsc -b tsconfig.build.json` (project references, so each
 * package is compiled against its dependencies' declarations, never their sources).
 *
 * The workspace itself runs the `.ts` sources (Node 24 strips types); only `pnpm pack` swaps in
 * `dist/` (each package's `publishConfig`). `dist/` is deleted first, so a file removed from `src/`
 * cannot linger in a tarball.
 *
 * `rewriteRelativeImportExtensions` rewrites `./x.ts` to `./x.js` in the JavaScript but leaves the
 * `.ts` specifier in the declarations. TypeScript 7 accepts that; TypeScript 5.x under `nodenext`
 * does not resolve it the same way, so the declarations are rewritten to `.js` here: what a
 * consumer type-checks then names exactly the files Node loads.
 *
 * Run: `node scripts/build.ts` (the root `build` script; every package's `prepack` runs it).
 */
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const ROOT = fileURLToPath(new URL("..", import.meta.url))
/** The packages `tsconfig.build.json` references; each gets a `dist/`. */
const PACKAGES_DIR = join(ROOT, "packages")
/** A relative specifier ending in `.ts` inside `from "…"`, `import("…")` or `declare module "…"`. */
const RELATIVE_TS_SPECIFIER = /((?:from|import\(|module)\s*["'])(\.\.?\/[^"']*?)\.ts(["'])/g

const packageDirs = readdirSync(PACKAGES_DIR, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => join(PACKAGES_DIR, entry.name))

for (const dir of packageDirs) rmSync(join(dir, "dist"), { recursive: true, force: true })

const tsc = join(ROOT, "node_modules", ".bin", "tsc")
execFileSync(tsc, ["-b", join(ROOT, "tsconfig.build.json")], { stdio: "inherit" })

const declarations = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".d.ts"))
    .map((entry) => join(entry.parentPath, entry.name))

let rewritten = 0
for (const dir of packageDirs) {
  for (const file of declarations(join(dir, "dist"))) {
    const text = readFileSync(file, "utf8")
    const fixed = text.replace(RELATIVE_TS_SPECIFIER, "$1$2.js$3")
    if (fixed === text) continue
    writeFileSync(file, fixed)
    rewritten++
  }
  rmSync(join(dir, "dist", ".tsbuildinfo"), { force: true })
}
console.log(
  `build: ${packageDirs.length} packages to dist/ (${rewritten} declaration files rewritten to .js specifiers)`,
)
