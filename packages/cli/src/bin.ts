#!/usr/bin/env node
/**
 * The `fsys` executable: runs `Cli.main` on the process arguments under `NodeRuntime.runMain`
 * (finalizers run on Ctrl-C) and exits with the code it returns.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import * as Cli from "./Cli.ts"

NodeRuntime.runMain(Cli.main(process.argv.slice(2)).pipe(Effect.provide(NodeServices.layer)), {
  disableErrorReporting: true,
  teardown: Cli.teardown,
})
