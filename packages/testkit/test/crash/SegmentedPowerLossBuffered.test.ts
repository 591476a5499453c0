/**
 * Randomized power loss against a buffered segmented journal (see segmentedSuite.ts and segmented.ts).
 */
import { segmentedPowerLossSuite } from "./segmentedSuite.ts"

segmentedPowerLossSuite("buffered")
