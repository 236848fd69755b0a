#!/usr/bin/env node
// The package's command: the CLI is TypeScript, run through tsx (a dependency) without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../sdk/cli.ts');
process.exitCode = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  isTTY: process.stderr.isTTY,
});
