#!/usr/bin/env node
/**
 * Entry of the `signed-api` command (compiled to dist/src/cli/main.js).
 * All the work is in run.ts, which tests call in-process.
 */
import { nodeIo } from './io.js'
import { run } from './run.js'

process.exitCode = await run(process.argv.slice(2), nodeIo())
