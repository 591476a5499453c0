/**
 * Randomized power loss against a buffered journal (see randomized.ts and CrashHarness).
 */
import { randomizedSuite } from "./randomized.ts"

randomizedSuite("buffered")
