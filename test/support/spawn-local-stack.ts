import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertConformsToOpenApi } from './openapi-conformance.js';

/*
 * Starting `npm start`'s process for a test, without any vitest API: the e2e global setup
 * (test/support/shared-stack-setup.ts) runs in vitest's own process, where the test hooks of
 * local-stack.ts do not exist.
 */

export interface SpawnedStack {
  url: string;
  adminToken: string;
  localDir: string;
  output: () => string;
  call(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
  /** `kill -9`: no shutdown at all, and the state directory is kept for a restart. */
  kill(): Promise<void>;
}

/**
 * Starts the local stack the way a user does (`npm start` runs `tsx local/main.ts`), on a free
 * port with its own state directory, and waits for it to print its URL. `outputFile` also gets
 * everything it prints, for test files in other processes (the shared stack).
 */
export async function spawnLocalStack(
  env: Record<string, string | undefined> = {},
  opts: { localDir?: string; adminToken?: string; outputFile?: string } = {},
): Promise<SpawnedStack> {
  const localDir = opts.localDir ?? (await mkdtemp(join(tmpdir(), 'molecule-e2e-')));
  const adminToken = opts.adminToken ?? `admin-${Math.random().toString(36).slice(2)}`;
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts'], {
    cwd: process.cwd(),
    env: { ...process.env, PORT: '0', MOLECULE_LOCAL_DIR: localDir, ADMIN_TOKEN: adminToken, LOG_LEVEL: 'WARN', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const record = (d: Buffer) => {
    output += d.toString();
    if (opts.outputFile) appendFileSync(opts.outputFile, d);
  };
  child.stdout!.on('data', record);
  child.stderr!.on('data', record);

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`local stack did not start within 120 s:\n${output}`)), 120_000);
    const check = () => {
      const match = /running at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`local stack exited with ${code}:\n${output}`));
    });
  });
  // A stack that dies under a test shows up there only as refused connections: say here how it
  // ended and what it printed last, so the test's output names the cause.
  let ending = false;
  child.once('exit', (code, signal) => {
    if (ending) return;
    process.stderr.write(
      `\nthe local stack at ${url} (pid ${child.pid}) ended on its own with ${signal ?? `exit code ${code}`}; its last output:\n${output.slice(-8000)}\n`,
    );
  });

  return {
    url,
    adminToken,
    localDir,
    output: () => output,
    call: callStack(url),
    async stop() {
      ending = true;
      // A promise the stack forgot to handle is logged, not fatal (local/main.ts): show it here, as the bug it is.
      const unhandled = output.split('\n').filter((line) => line.includes('unhandled promise rejection in the local stack'));
      if (unhandled.length > 0) process.stderr.write(`\nthe local stack at ${url} logged unhandled rejections:\n${unhandled.join('\n')}\n`);
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(localDir, { recursive: true, force: true });
    },
    async kill() {
      ending = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** HTTP to a running stack, JSON in and out: what `SpawnedStack.call` does. */
export function callStack(url: string): SpawnedStack['call'] {
  return async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined = opts.rawBody;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(url + path, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(60_000) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    // Every answer an e2e test receives is held to the API's OpenAPI document (SPEC §13).
    assertConformsToOpenApi(method, path, { status: res.status, headers: res.headers, body: parsed });
    return { status: res.status, body: parsed, headers: res.headers };
  };
}
