import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to completion (bounded by `timeoutMs`), timing it from spawn to exit. */
export function run(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: opts.cwd ?? REPO_ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 1_000_000) stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/**
 * Bundles a script as the stack bundles a Lambda handler (esbuild with `esbuildArgs`, the same
 * command line), so it runs as a Lambda runs its code: plain Node, no tsx loader hooks, nothing
 * from `node_modules`. `entry-names=index`: give each script its own `outDir`. Returns `index.mjs`.
 */
export async function bundleScript(entry: string, outDir: string, opts: { sourceMaps?: boolean } = {}): Promise<string> {
  // Loaded only here: it brings in aws-cdk-lib, which the other users of this module do not need.
  const { esbuildArgs } = await import('../../infra/constructs/handler-function.js');
  const res = await run(join(REPO_ROOT, 'node_modules/.bin/esbuild'), esbuildArgs(join(REPO_ROOT, entry), outDir, opts), { timeoutMs: 120_000 });
  if (res.code !== 0) throw new Error(`esbuild ${entry} failed (${res.code}): ${res.stderr.slice(-2000)}`);
  return join(outDir, 'index.mjs');
}

/** The last line of stdout that parses as JSON. */
export function lastJson<T>(stdout: string): T {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line) as T;
    } catch {
      // not ours
    }
  }
  throw new Error(`no JSON result in output: ${stdout.slice(-500)}`);
}
