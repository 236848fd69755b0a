import pg from 'pg';
import { PlatformUnavailable } from '../shared/errors.js';

export type Db = pg.Pool;
export type Queryable = pg.Pool | pg.PoolClient;

export interface DbOptions {
  connectionString: string;
  max?: number;
}

/** A bounded pool with connect and statement timeouts, so a stuck database never hangs a request. */
export function createDb({ connectionString, max = 10 }: DbOptions): Db {
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: 15_000,
    query_timeout: 20_000,
  });
  // An idle client losing its connection must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  return pool;
}

const UNAVAILABLE_SQLSTATE = /^(08|53|57P|58)/;
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

/** True when the error means "the database is not reachable right now" rather than a bad query. */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (typeof e?.code === 'string' && (UNAVAILABLE_ERRNO.has(e.code) || UNAVAILABLE_SQLSTATE.test(e.code))) return true;
  return /timeout|terminated|connect/i.test(e?.message ?? '') && !e?.code;
}

export async function query<R extends pg.QueryResultRow>(db: Queryable, text: string, params: unknown[] = []): Promise<R[]> {
  try {
    const result = await db.query<R>(text, params);
    return result.rows;
  } catch (err) {
    if (isUnavailable(err)) throw new PlatformUnavailable('the platform database is unavailable', {}, { cause: err });
    throw err;
  }
}

/** Runs `work` in one short transaction. Never call the network from inside it. */
export async function transaction<T>(db: Db, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await db.connect();
  } catch (err) {
    throw new PlatformUnavailable('the platform database is unavailable', {}, { cause: err });
  }
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (isUnavailable(err)) throw new PlatformUnavailable('the platform database is unavailable', {}, { cause: err });
    throw err;
  } finally {
    client.release();
  }
}

export interface RetryOptions {
  /** Time from the first attempt after which no new attempt starts; default 60 s, an RDS failover. */
  budgetMs?: number;
  /** The first wait is at most this; each further one at most doubles, up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** in [0, 1): full jitter, so writers cut off together do not all come back together */
  random?: () => number;
  /** told before each wait, e.g. to log the outage */
  onRetry?: (retry: { attempt: number; delayMs: number; error: unknown }) => void;
}

export const DB_RETRY_BUDGET_MS = 60_000;

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Unavailable, seen directly or through the PlatformUnavailable that `query`/`transaction` made of it. */
function unavailableCause(err: unknown): boolean {
  return isUnavailable(err instanceof PlatformUnavailable ? err.cause : err);
}

/**
 * Runs a database write a step depends on until it gets through an outage such as an RDS failover:
 * retried only while the database is unreachable (`isUnavailable`), with exponential backoff and
 * full jitter, until `budgetMs` has passed; then `PlatformUnavailable`, which the workflow retries
 * or fails with its documented code. Any other error is thrown at once. A write cut off after its
 * commit runs again, so give it only idempotent writes.
 */
export async function retryUnavailable<T>(work: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const { budgetMs = DB_RETRY_BUDGET_MS, baseDelayMs = 200, maxDelayMs = 10_000, sleep = sleepFor, now = Date.now, random = Math.random, onRetry } = options;
  const startedAt = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (!unavailableCause(err)) throw err;
      const remaining = startedAt + budgetMs - now();
      if (remaining <= 0) {
        throw new PlatformUnavailable('the platform database is unavailable', {}, { cause: err instanceof PlatformUnavailable ? err.cause : err });
      }
      const delayMs = Math.min(remaining, random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)));
      onRetry?.({ attempt, delayMs, error: err });
      await sleep(delayMs);
    }
  }
}
