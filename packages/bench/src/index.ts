/**
 * The bench's public surface: the contract between `fsys bench` (the parent) and the bench worker
 * (`@fsys/bench/worker`, started as a child process), and where that worker lives.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Protocol from "./Protocol.ts"
