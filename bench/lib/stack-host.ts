import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './proc.js';
import { createScratchDatabase } from '../../local/database.js';
import type { Command, Ready, StackChildOptions } from './stack-child.js';

export interface StackHost extends Ready {
  call<T>(command: Command): Promise<T>;
  close(): Promise<void>;
  /** the child's log so far (tail) */
  logTail(chars?: number): string;
}

export interface BenchDatabase {
  url?: string;
  drop(): Promise<void>;
}

/**
 * With `DATABASE_URL` set, a fresh database on that server per stack (dropped afterwards, as the
 * tests do); otherwise none, and the stack embeds PostgreSQL (PGlite) in its own process.
 */
export async function benchDatabase(): Promise<BenchDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) return { drop: async () => undefined };
  const scratch = await createScratchDatabase(serverUrl, 'mpd_bench');
  return { url: scratch.url, drop: scratch.drop };
}

export function databaseLabel(): string {
  return process.env.DATABASE_URL
    ? `PostgreSQL at DATABASE_URL (${new URL(process.env.DATABASE_URL).host}), a fresh database per stack`
    : 'embedded PostgreSQL (PGlite) in a child process of the stack (DATABASE_URL unset)';
}

/** A timer that does not keep the process alive once everything else is done. */
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** The stack gets its database explicitly; everything else as the user's environment has it, logs at WARN. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'WARN' };
  delete env.DATABASE_URL;
  delete env.MOLECULE_REGISTRY_DIR;
  return env;
}

/** Starts the local stack in a child process and waits until it serves. */
export async function startStack(opts: {
  tmpDir: string;
  name: string;
  registryDirs: string[];
  countS3?: boolean;
  countApiDatabase?: boolean;
}): Promise<StackHost> {
  const dir = join(opts.tmpDir, opts.name);
  await mkdir(dir, { recursive: true });
  const database = await benchDatabase();
  const logPath = join(dir, 'stack.log');
  const log = openSync(logPath, 'w');
  const childOpts: StackChildOptions = {
    localDir: join(dir, 'local'),
    adminToken: `bench-admin-${randomBytes(8).toString('hex')}`,
    registryDirs: opts.registryDirs,
    ...(database.url ? { databaseUrl: database.url } : {}),
    countS3: opts.countS3,
    countApiDatabase: opts.countApiDatabase,
  };
  const child: ChildProcess = fork(join(REPO_ROOT, 'bench/lib/stack-child.ts'), [JSON.stringify(childOpts)], {
    cwd: REPO_ROOT,
    // BENCH_CPU_PROF_DIR=<dir> writes a V8 CPU profile of each stack process there (for digging into a miss).
    execArgv: [
      '--import',
      'tsx',
      '--no-warnings',
      ...(process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] : []),
    ],
    env: childEnv(),
    stdio: ['ignore', log, log, 'ipc'],
  });
  closeSync(log);
  const logTail = (chars = 3000) => {
    try {
      return readFileSync(logPath, 'utf8').slice(-chars);
    } catch {
      return '';
    }
  };

  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let exited = false;
  const ready = new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the stack did not start within 120 s:\n${logTail()}`)), 120_000);
    child.on('message', (message: Ready | { id: number; ok: boolean; result?: unknown; error?: string }) => {
      if ('type' in message && message.type === 'ready') {
        clearTimeout(timer);
        resolve(message);
        return;
      }
      const reply = message as { id: number; ok: boolean; result?: unknown; error?: string };
      const waiter = pending.get(reply.id);
      if (!waiter) return;
      pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(new Error(reply.error));
    });
    child.once('exit', (code) => {
      exited = true;
      clearTimeout(timer);
      const err = new Error(`the stack process exited (${code}):\n${logTail()}`);
      reject(err);
      for (const waiter of pending.values()) waiter.reject(err);
      pending.clear();
    });
  });
  let info: Ready;
  try {
    info = await ready;
  } catch (err) {
    if (!exited) child.kill('SIGKILL');
    await database.drop().catch(() => undefined);
    throw err;
  }

  const call = <T>(command: Command): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (exited) return reject(new Error('the stack process has exited'));
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, ...command });
    });

  return {
    ...info,
    call,
    logTail,
    async close() {
      if (!exited) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        await Promise.race([call({ cmd: 'close' }).catch(() => undefined), sleep(20_000)]);
        await Promise.race([gone, sleep(5_000)]);
        if (!exited) child.kill('SIGKILL');
      }
      await database.drop().catch(() => undefined);
    },
  };
}
