/**
 * Randomized power loss against a direct segmented journal (see segmentedSuite.ts and segmented.ts).
 */
import { segmentedPowerLossSuite } from "./segmentedSuite.ts"

segmentedPowerLossSuite("direct")
