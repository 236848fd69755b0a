import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';
import { assertConformsToOpenApi } from './openapi-conformance.js';

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
 * port with its own state directory, and waits for it to print its URL.
 */
export async function spawnLocalStack(
  env: Record<string, string | undefined> = {},
  opts: { localDir?: string; adminToken?: string } = {},
): Promise<SpawnedStack> {
  const localDir = opts.localDir ?? (await mkdtemp(join(tmpdir(), 'molecule-e2e-')));
  const adminToken = opts.adminToken ?? `admin-${Math.random().toString(36).slice(2)}`;
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts'], {
    cwd: process.cwd(),
    env: { ...process.env, PORT: '0', MOLECULE_LOCAL_DIR: localDir, ADMIN_TOKEN: adminToken, LOG_LEVEL: 'WARN', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));

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

  return {
    url,
    adminToken,
    localDir,
    output: () => output,
    async call(method, path, opts = {}) {
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
      assertConformsToOpenApi(method, path, { status: res.status, headers: res.headers, body: parsed });
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(localDir, { recursive: true, force: true });
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

type StackEnv = Record<string, string | undefined>;

/**
 * One local stack per test file: registers the `beforeAll` that starts it (on a fresh database
 * when `DATABASE_URL` names a server, else embedded) and the `afterAll` that stops it. The
 * returned handle reads the running stack, so tests use it as they would the stack itself. `env`
 * may be a function when it needs something an earlier `beforeAll` started.
 */
export function useLocalStack(env: StackEnv | (() => StackEnv) = {}): SpawnedStack {
  let spawned: SpawnedStack | undefined;
  let database: TestDatabase | undefined;
  const running = (): SpawnedStack => {
    if (!spawned) throw new Error('the local stack is not running: use it inside a test or a later beforeAll');
    return spawned;
  };

  beforeAll(async () => {
    database = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
    spawned = await spawnLocalStack({ DATABASE_URL: database?.url, ...(typeof env === 'function' ? env() : env) });
  }, 150_000);

  afterAll(async () => {
    await spawned?.stop();
    await database?.close();
  });

  return {
    get url() {
      return running().url;
    },
    get adminToken() {
      return running().adminToken;
    },
    get localDir() {
      return running().localDir;
    },
    output: () => running().output(),
    call: (method, path, opts) => running().call(method, path, opts),
    stop: () => running().stop(),
    kill: () => running().kill(),
  };
}
