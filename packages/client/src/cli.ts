#!/usr/bin/env node
// The `sip-pubsub` command (bin of @sip-pubsub/client).
import { processIo, runCli } from './cli-runner.js';

const code = await runCli(process.argv.slice(2), processIo());
process.exit(code);
