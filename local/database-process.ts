/**
 * The embedded PostgreSQL's process (started by `database.ts`): PGlite behind pglite-socket on a
 * loopback port. PGlite runs PostgreSQL in WebAssembly on the thread that calls it, in ~700 MiB
 * of memory. In a process of its own, its work no longer queues behind the workflow engine, the
 * step handlers and the emulators (nor theirs behind it), and the stack process stays small
 * enough to start host commands quickly (`spawn` copies the parent's page tables: ~25 ms per
 * command with PGlite inside, ~10 ms without, on this 2-core machine). It exits with its parent.
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { FromDatabaseProcess, ToDatabaseProcess } from './database.js';

const send = (message: FromDatabaseProcess) => process.send?.(message);
const dataDir = process.env.MOLECULE_PGLITE_DIR || undefined;
const listenPort = process.env.MOLECULE_PGLITE_PORT ? Number(process.env.MOLECULE_PGLITE_PORT) : undefined;
// The stack is gone (ended or killed): so is its database.
process.on('disconnect', () => process.exit(0));

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

async function serve(): Promise<void> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  const server = new PGLiteSocketServer({ db: holdTurnUntilSync(db), host: '127.0.0.1', port: listenPort ?? 0, maxConnections: 32 });
  await server.start();
  const address = (server as unknown as { server?: { address(): { port: number } | null } }).server?.address();
  if (!address) throw new Error('embedded database did not bind a port');
  process.on('message', (message: ToDatabaseProcess) => {
    if (message.type !== 'close') return;
    void (async () => {
      await server.stop();
      await db.close();
      process.exit(0);
    })();
  });
  send({ type: 'listening', port: address.port });
}

serve().catch((err: unknown) => send({ type: 'failed', message: (err as Error).message }));
