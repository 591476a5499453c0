/**
 * Refuses to load on a Node.js older than the packages' `engines` floor, with one clear line.
 *
 * Without it, npm installs on Node 20 with a warning nobody reads and the first write dies deep
 * inside the ring with `buffer.transfer is not a function` (`ArrayBuffer.prototype.transfer`
 * arrived in Node 21; effect's platform layer and our test tools need 22). Every fsys package
 * reaches this module first: it is the first import of `@fsys/native`'s entry point, which every
 * other package imports.
 *
 * 22.0.0 is the oldest release the consumer test (`scripts/consumer-test.ts`) runs the packed
 * packages on; keep it equal to `engines.node` in every package.json.
 */

/** The oldest major version the packed packages are tested on. */
const NODE_MAJOR_MIN = 22

const major = Number.parseInt(process.versions.node.split(".")[0] ?? "0", 10)
if (!(major >= NODE_MAJOR_MIN) || typeof ArrayBuffer.prototype.transfer !== "function") {
  throw new Error(
    `fsys needs Node.js >= ${NODE_MAJOR_MIN} (package.json "engines"); this is Node.js ${process.version}. ` +
      "Upgrade Node.js (https://nodejs.org) or run it through a version manager.",
  )
}

export {}
