#!/usr/bin/env node
// The package's command: the CLI is TypeScript, run through tsx (a dependency) without a build step.
import { register } from 'tsx/esm/api';

register();
const { runAsProcess } = await import('../sdk/cli.ts');
process.exitCode = await runAsProcess();
