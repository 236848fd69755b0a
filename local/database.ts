import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import pg from 'pg';
import type { PGlite } from '@electric-sql/pglite';
import { migrate } from '../lambdas/store/migrate.js';

export interface LocalDatabase {
  url: string;
  embedded: boolean;
  close(): Promise<void>;
}

/**
 * `DATABASE_URL` when given; otherwise an embedded PostgreSQL (PGlite) served over the wire
 * protocol on a loopback port (`serveWire`), so the same `pg` code talks to both. Migrations run
 * either way. `dataDir` persists the embedded database; without it, it lives in memory. `thread`
 * runs the embedded database in a worker thread of its own (the local stack), so its queries do
 * not wait for this thread's event loop.
 */
export async function openDatabase(opts: { databaseUrl?: string; dataDir?: string; port?: number; thread?: boolean } = {}): Promise<LocalDatabase> {
  if (opts.databaseUrl) {
    await migrate(opts.databaseUrl);
    return { url: opts.databaseUrl, embedded: false, close: async () => undefined };
  }
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const served = opts.thread ? await embeddedInThread(opts.dataDir, opts.port ?? 0) : await embedded(opts.dataDir, opts.port ?? 0);
  const url = `postgres://postgres@127.0.0.1:${served.port}/postgres?sslmode=disable`;
  try {
    await migrate(url);
  } catch (err) {
    await served.close();
    throw err;
  }
  return { url, embedded: true, close: served.close };
}

interface Served {
  port: number;
  close(): Promise<void>;
}

async function embedded(dataDir: string | undefined, port: number): Promise<Served> {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create(dataDir);
  const server = await serveWire(db, port);
  return {
    port: server.port,
    close: async () => {
      await server.close();
      await db.close();
    },
  };
}

const THREAD_START_TIMEOUT_MS = 120_000;
const THREAD_CLOSE_GRACE_MS = 10_000;

async function embeddedInThread(dataDir: string | undefined, port: number): Promise<Served> {
  const self = new URL(import.meta.url).href;
  // A worker does not run .ts on its own: it registers tsx first, as `npm start` does for this thread.
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(self)}); }).then((m) => m.runDatabaseThread())`;
  const worker = new Worker(boot, { eval: true, workerData: { dataDir, port } });
  const exit = new Promise<number>((resolve) => worker.once('exit', resolve));
  const bound = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the embedded database did not start')), THREAD_START_TIMEOUT_MS);
    worker.once('message', (message: { port?: number; error?: string }) => {
      clearTimeout(timer);
      if (message.port) resolve(message.port);
      else reject(new Error(`the embedded database could not start: ${message.error}`));
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    void exit.then((code) => reject(new Error(`the embedded database exited (${code})`)));
  }).catch(async (err) => {
    await worker.terminate();
    throw err;
  });
  return {
    port: bound,
    close: async () => {
      worker.postMessage('close');
      const grace = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), THREAD_CLOSE_GRACE_MS).unref());
      if ((await Promise.race([exit, grace])) === 'late') await worker.terminate();
    },
  };
}

/** The database thread's body (see `embeddedInThread`). */
export async function runDatabaseThread(): Promise<void> {
  const { dataDir, port } = workerData as { dataDir?: string; port: number };
  try {
    const served = await embedded(dataDir, port);
    parentPort!.on('message', () => {
      void served.close().finally(() => parentPort!.close());
    });
    parentPort!.postMessage({ port: served.port });
  } catch (err) {
    parentPort!.postMessage({ error: (err as Error).message });
    parentPort!.close();
  }
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** A connection holding the backend (open transaction) while idle this long is dropped and rolled back. */
const IDLE_HOLD_MS = 30_000;

interface Connection {
  socket: Socket;
  /** complete frontend messages not yet part of a unit */
  pending: Buffer[];
  /** units (the startup message, or messages up to a Sync, Query or Flush) waiting to run, in order */
  units: Array<{ bytes: Buffer; flushOnly: boolean }>;
  running: boolean;
  started: boolean;
  closed: boolean;
  idleTimer?: NodeJS.Timeout;
}

/**
 * Serves one PGlite over the PostgreSQL wire protocol to any number of connections. PGlite is one
 * backend: a connection owns it from the first message of a batch until the backend is ready for
 * a query outside a transaction, so batches of the extended protocol (Parse … Sync) never
 * interleave with another connection's, and a transaction sees only its own statements.
 * (`@electric-sql/pglite-socket` 0.2 interleaves messages, electric-sql/pglite#1046, and stops
 * serving after one internal error.) Other connections wait their turn; a connection that holds
 * a transaction open and idle for `IDLE_HOLD_MS` is closed and rolled back, as
 * `idle_in_transaction_session_timeout` would. No transaction may span a network call.
 */
export async function serveWire(db: PGlite, port: number): Promise<{ port: number; close(): Promise<void> }> {
  let holder: Connection | null = null;
  const waiting: Array<{ conn: Connection; grant: () => void }> = [];
  const connections = new Set<Connection>();

  const acquire = (conn: Connection) =>
    new Promise<void>((resolve) => {
      if (holder === conn) return resolve();
      if (!holder) {
        holder = conn;
        return resolve();
      }
      waiting.push({ conn, grant: resolve });
    });
  const release = (conn: Connection) => {
    if (holder !== conn) return;
    holder = null;
    const next = waiting.shift();
    if (next) {
      holder = next.conn;
      next.grant();
    }
  };

  /** Frees the backend a closed connection held, rolling back what it left open. */
  const finish = async (conn: Connection) => {
    if (holder !== conn) return;
    if (db.isInTransaction()) await db.exec('ROLLBACK').catch(() => undefined);
    release(conn);
  };

  const drop = (conn: Connection) => {
    if (conn.closed) return;
    conn.closed = true;
    clearTimeout(conn.idleTimer);
    connections.delete(conn);
    conn.socket.destroy();
    const queued = waiting.findIndex((w) => w.conn === conn);
    if (queued >= 0) waiting.splice(queued, 1)[0]!.grant(); // its run() wakes up, sees it closed and stops
    if (!conn.running) void finish(conn);
  };

  const run = async (conn: Connection) => {
    if (conn.running) return;
    conn.running = true;
    clearTimeout(conn.idleTimer);
    try {
      while (conn.units.length && !conn.closed) {
        const unit = conn.units.shift()!;
        await acquire(conn);
        if (conn.closed) break;
        await db.runExclusive(() =>
          db.execProtocolRawStream(new Uint8Array(unit.bytes.buffer, unit.bytes.byteOffset, unit.bytes.byteLength), {
            onRawData: (data) => {
              if (!conn.closed && data.length) conn.socket.write(Buffer.from(data));
            },
          }),
        );
        // Hold on through a transaction, and through a batch flushed ('H') before its Sync.
        if (!db.isInTransaction() && !unit.flushOnly) release(conn);
      }
    } catch {
      drop(conn);
    } finally {
      conn.running = false;
    }
    if (conn.closed) await finish(conn);
    else if (holder === conn) conn.idleTimer = setTimeout(() => drop(conn), IDLE_HOLD_MS);
  };

  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    const conn: Connection = { socket, pending: [], units: [], running: false, started: false, closed: false };
    connections.add(conn);
    let buffered: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      for (;;) {
        if (!conn.started) {
          if (buffered.length < 8) break;
          const length = buffered.readInt32BE(0);
          if (buffered.length < length) break;
          const message = buffered.subarray(0, length);
          buffered = buffered.subarray(length);
          const code = message.readInt32BE(4);
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) socket.write('N');
          else if (code === CANCEL_REQUEST) drop(conn);
          else {
            conn.units.push({ bytes: Buffer.from(message), flushOnly: false });
            conn.started = true;
          }
          continue;
        }
        if (buffered.length < 5) break;
        const length = 1 + buffered.readInt32BE(1);
        if (buffered.length < length) break;
        const message = buffered.subarray(0, length);
        buffered = buffered.subarray(length);
        const type = String.fromCharCode(message[0]!);
        if (type === 'X') {
          drop(conn);
          return;
        }
        conn.pending.push(Buffer.from(message));
        if (type === 'S' || type === 'Q' || type === 'H') {
          conn.units.push({ bytes: Buffer.concat(conn.pending), flushOnly: type === 'H' });
          conn.pending = [];
        }
      }
      void run(conn);
    });
    socket.on('error', () => drop(conn));
    socket.on('close', () => drop(conn));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('embedded database did not bind a port');
  return {
    port: address.port,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const conn of [...connections]) drop(conn);
      await closed;
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
