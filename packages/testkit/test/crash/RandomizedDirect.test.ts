/**
 * Randomized power loss against a Direct (O_DIRECT) journal: the simulated disk enforces the
 * alignment of every write, so an alignment bug fails here too (see randomized.ts).
 */
import { randomizedSuite } from "./randomized.ts"

randomizedSuite("direct")
