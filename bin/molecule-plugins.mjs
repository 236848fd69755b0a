#!/usr/bin/env node
// The repository's command: the SDK package's CLI from its TypeScript source, run through tsx
// without a build step (the package itself ships it built, as dist/cli.js).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../packages/sdk/src/cli.ts');
process.exitCode = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  isTTY: process.stderr.isTTY,
});
