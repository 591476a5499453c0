/**
 * @fsys/cli — the `fsys` command (probe, inspect, verify, tail, demo, bench), built with
 * `effect/cli`.
 *
 * @since 0.1.0
 */
export * as Cli from "./Cli.ts"
