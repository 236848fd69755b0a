import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate } from '../lambdas/store/migrate.js';

export interface LocalDatabase {
  url: string;
  embedded: boolean;
  close(): Promise<void>;
}

export type ToDatabaseProcess = { type: 'close' };
export type FromDatabaseProcess = { type: 'listening'; port: number } | { type: 'failed'; message: string } | { type: 'closed' };

const START_TIMEOUT_MS = 120_000;
const CLOSE_GRACE_MS = 10_000;

/**
 * `DATABASE_URL` when given; otherwise an embedded PostgreSQL (PGlite) in a child process of its
 * own (database-process.ts), served over the wire protocol on a loopback port, so the same `pg` code
 * talks to both. Migrations run either way. `dataDir` persists the embedded database; without
 * it, it lives in memory.
 */
export async function openDatabase(opts: { databaseUrl?: string; dataDir?: string; port?: number } = {}): Promise<LocalDatabase> {
  if (opts.databaseUrl) {
    await migrate(opts.databaseUrl);
    return { url: opts.databaseUrl, embedded: false, close: async () => undefined };
  }
  // tsx runs the child's TypeScript, as it runs `npm start`.
  const child = fork(fileURLToPath(new URL('./database-process.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, MOLECULE_PGLITE_DIR: opts.dataDir ?? '', MOLECULE_PGLITE_PORT: opts.port === undefined ? '' : String(opts.port) },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = (within: number, what: string) =>
    new Promise<FromDatabaseProcess>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`embedded database: ${what} took over ${within / 1000} s`)), within);
      const settle = (outcome: () => void) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        outcome();
      };
      const onMessage = (message: FromDatabaseProcess) => settle(() => resolve(message));
      const onExit = (code: number | null) => settle(() => reject(new Error(`embedded database process exited with ${code}`)));
      child.on('message', onMessage);
      child.on('exit', onExit);
    });
  let url: string;
  try {
    const started = await next(START_TIMEOUT_MS, 'start-up');
    if (started.type !== 'listening') throw new Error(`embedded database did not start: ${started.type === 'failed' ? started.message : started.type}`);
    url = `postgres://postgres@127.0.0.1:${started.port}/postgres?sslmode=disable`;
    await migrate(url);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  return {
    url,
    embedded: true,
    close: async () => {
      if (child.connected) {
        const closed = next(CLOSE_GRACE_MS, 'closing').catch(() => undefined);
        child.send({ type: 'close' } satisfies ToDatabaseProcess);
        await closed;
      }
      // It exits once it has closed; one that does not within the grace is killed.
      const killer = setTimeout(() => child.kill('SIGKILL'), CLOSE_GRACE_MS);
      await exited;
      clearTimeout(killer);
    },
  };
}

/**
 * A throwaway database on the server at `serverUrl` (tests and benchmarks: one per file or
 * stack), dropped by `drop()` even while connections remain.
 */
export async function createScratchDatabase(serverUrl: string, prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const run = async (sql: string) => {
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    try {
      await admin.query(sql);
    } finally {
      await admin.end();
    }
  };
  await run(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
