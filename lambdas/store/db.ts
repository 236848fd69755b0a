import pg from 'pg';
import { PlatformUnavailable } from '../shared/errors.js';
import { isUnavailable } from '../shared/outage.js';

export { DB_RETRY_BUDGET_MS, isUnavailable, retryUnavailable, type RetryOptions } from '../shared/outage.js';

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
