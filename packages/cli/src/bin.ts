#!/usr/bin/env node
/**
 * The `fsys` executable: runs `Cli.main` on the process arguments under `NodeRuntime.runMain`
 * (finalizers run on Ctrl-C) and exits with the code it returns.
 *
 * @since 0.1.0
 */
// First: @fsys/native refuses an unsupported Node.js with one clear line, before anything else loads.
import "@fsys/native"
// Deep imports: the package index loads every platform module (HTTP, sockets…), which costs
// seconds of startup for a command that needs none of them.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect } from "effect"
import * as Cli from "./Cli.ts"

NodeRuntime.runMain(Cli.main(process.argv.slice(2)).pipe(Effect.provide(NodeServices.layer)), {
  disableErrorReporting: true,
  teardown: Cli.teardown,
})
