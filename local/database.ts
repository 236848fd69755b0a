import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../lambdas/store/migrate.js';
import { forkTs } from './ts-process.js';

export interface LocalDatabase {
  url: string;
  embedded: boolean;
  close(): Promise<void>;
}

export type ToDatabaseProcess = { type: 'close' };
export type FromDatabaseProcess = { type: 'listening'; port: number } | { type: 'failed'; message: string };

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
  const { child, exited, endWithin } = forkTs(new URL('./database-process.ts', import.meta.url), {
    ...process.env,
    MOLECULE_PGLITE_DIR: opts.dataDir ?? '',
    MOLECULE_PGLITE_PORT: opts.port === undefined ? '' : String(opts.port),
  });
  let url: string;
  try {
    const started = await startedWithin(child, exited, START_TIMEOUT_MS);
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
      // It closes the database and exits; one that does not within the grace is killed.
      if (child.connected) child.send({ type: 'close' } satisfies ToDatabaseProcess);
      await endWithin(CLOSE_GRACE_MS);
    },
  };
}

/** The database process's first word: where it listens, or why it could not start. */
function startedWithin(child: ChildProcess, exited: Promise<void>, ms: number): Promise<{ port: number }> {
  let timer: NodeJS.Timeout | undefined;
  let onMessage: ((message: FromDatabaseProcess) => void) | undefined;
  return Promise.race([
    new Promise<{ port: number }>((resolve, reject) => {
      onMessage = (message) => {
        if (message.type === 'listening') resolve(message);
        else reject(new Error(`embedded database did not start: ${message.message}`));
      };
      child.once('message', onMessage);
    }),
    exited.then(() => Promise.reject(new Error(`embedded database process exited with ${child.exitCode ?? child.signalCode}`))),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`embedded database: start-up took over ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => {
    clearTimeout(timer);
    if (onMessage) child.off('message', onMessage);
  });
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
