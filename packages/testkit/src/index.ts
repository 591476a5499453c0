/**
 * @fsys/testkit — test doubles for fsys: a simulated disk with power loss and fault injection,
 * the crash-safety harness (reference model and invariant checks), the kill -9 process harness
 * and workload generators.
 *
 * @since 0.1.0
 */
export * as SimulatedDisk from "./SimulatedDisk.ts"
export * as CrashHarness from "./CrashHarness.ts"
export * as KillNineHarness from "./KillNineHarness.ts"
export * as Generators from "./Generators.ts"
export { LogBufferTest } from "./LogBufferTest.ts"
export * as Interruption from "./Interruption.ts"
