#!/usr/bin/env node
// The repository's command: the SDK package's CLI from its TypeScript source, run through tsx
// without a build step (the package itself ships it built, as dist/cli.js).
import { register } from 'tsx/esm/api';

register();
const { runAsProcess } = await import('../packages/sdk/src/cli.ts');
process.exitCode = await runAsProcess();
