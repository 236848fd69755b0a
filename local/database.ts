import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { migrate } from '../lambdas/store/migrate.js';

export interface LocalDatabase {
  url: string;
  embedded: boolean;
  close(): Promise<void>;
}

/**
 * `DATABASE_URL` when given; otherwise an embedded PostgreSQL (PGlite) served over the wire
 * protocol on a loopback port, so the same `pg` code talks to both. Migrations run either way.
 * `dataDir` persists the embedded database; without it, it lives in memory.
 */
export async function openDatabase(opts: { databaseUrl?: string; dataDir?: string; port?: number } = {}): Promise<LocalDatabase> {
  if (opts.databaseUrl) {
    await migrate(opts.databaseUrl);
    return { url: opts.databaseUrl, embedded: false, close: async () => undefined };
  }
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const db = await PGlite.create(opts.dataDir);
  const server = new PGLiteSocketServer({ db: holdTurnUntilSync(db), host: '127.0.0.1', port: opts.port ?? 0, maxConnections: 32 });
  await server.start();
  const port = boundPort(server);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`;
  await migrate(url);
  return {
    url,
    embedded: true,
    close: async () => {
      await server.stop();
      await db.close();
    },
  };
}

/** Extended-protocol messages that leave a batch open until the client's Sync. */
const BATCH_MESSAGES = new Set(['P', 'B', 'D', 'E', 'C', 'H'].map((c) => c.charCodeAt(0)));

/**
 * pglite-socket queues every wire message on its own, so another connection's Parse or Bind can
 * land between this one's Bind and Execute: the unnamed portal then runs the other statement or
 * none (`portal "" cannot be run`, electric-sql/pglite#1046). Its queue already gives one
 * connection every turn while a transaction is open; this view of the database reports an open
 * extended-protocol batch (Parse … Sync) as one too, so a connection keeps its turn until Sync.
 */
function holdTurnUntilSync(db: PGlite): PGlite {
  let inBatch = false;
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'isInTransaction') return () => inBatch || target.isInTransaction();
      if (prop === 'execProtocolRawStream') {
        return (message: Uint8Array, options: Parameters<PGlite['execProtocolRawStream']>[1]) => {
          inBatch = BATCH_MESSAGES.has(message[0] ?? 0);
          return target.execProtocolRawStream(message, options);
        };
      }
      if (prop === 'exec') {
        // The queue's own ROLLBACK for a connection that went away: its batch is over too.
        return (query: string, options?: Parameters<PGlite['exec']>[1]) => {
          inBatch = false;
          return target.exec(query, options);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function boundPort(server: PGLiteSocketServer): number {
  const address = (server as unknown as { server?: { address(): { port: number } | null } }).server?.address();
  if (!address) throw new Error('embedded database did not bind a port');
  return address.port;
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
