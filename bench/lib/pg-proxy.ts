import { connect, createServer, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';

/** What the clients behind the proxy asked of the database since the previous read. */
export interface PgRoundTrips {
  /**
   * Client round trips: simple-protocol Query ('Q') messages plus extended-protocol Syncs ('S'):
   * each is one wait for the server's ReadyForQuery.
   */
  roundTrips: number;
  /** Per round trip, its statement(s) (whitespace collapsed, cut at 120 characters) → how many times. */
  statements: Record<string, number>;
}

export interface PgCountingProxy {
  url: string;
  /** Returns the counts since the previous read and starts counting afresh. */
  read(): PgRoundTrips;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

const statementText = (sql: string) => sql.replace(/\s+/g, ' ').trim().slice(0, 120);

/**
 * A TCP proxy in front of PostgreSQL that reads the frontend side of the wire protocol (v3) and
 * counts round trips, to measure what one request costs the database. Bytes pass through
 * unchanged; a connection that negotiates TLS is passed through uncounted (bench URLs disable it).
 */
export async function startPgCountingProxy(targetUrl: string): Promise<PgCountingProxy> {
  const target = new URL(targetUrl);
  let roundTrips = 0;
  let statements: Record<string, number> = {};
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port || 5432) });
    sockets.add(client);
    sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    let buffered: Buffer = Buffer.alloc(0);
    let startup = true;
    let opaque = false;
    let pending: string[] = [];
    const count = (statement: string) => {
      roundTrips += 1;
      statements[statement] = (statements[statement] ?? 0) + 1;
    };
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (opaque) return;
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      for (;;) {
        if (startup) {
          if (buffered.length < 8) return;
          const length = buffered.readInt32BE(0);
          if (buffered.length < length) return;
          const code = buffered.readInt32BE(4);
          buffered = buffered.subarray(length);
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            // The server's one-byte answer decides; a TLS session cannot be read here.
            upstream.once('data', (answer: Buffer) => {
              if (answer[0] === 0x53 /* S */ || answer[0] === 0x47 /* G */) opaque = true;
            });
            continue;
          }
          if (code !== CANCEL_REQUEST) startup = false;
          continue;
        }
        if (buffered.length < 5) return;
        const length = buffered.readInt32BE(1);
        if (buffered.length < 1 + length) return;
        const type = String.fromCharCode(buffered[0]!);
        const body = buffered.subarray(5, 1 + length);
        buffered = buffered.subarray(1 + length);
        if (type === 'Q') count(statementText(body.toString('utf8', 0, body.indexOf(0))));
        else if (type === 'P') {
          const nameEnd = body.indexOf(0);
          pending.push(statementText(body.toString('utf8', nameEnd + 1, body.indexOf(0, nameEnd + 1))));
        } else if (type === 'S') {
          count(pending.length ? pending.join(' ; ') : '(prepared statement)');
          pending = [];
        }
      }
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the database proxy did not bind');
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(address.port);
  return {
    url: url.toString(),
    read() {
      const result = { roundTrips, statements };
      roundTrips = 0;
      statements = {};
      return result;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * The same proxy on a worker thread of its own. In the stack's process the main thread runs the
 * engine, the steps and the emulators: a proxy there put every one of the API's database round
 * trips in the queue behind them (its socket writes were ~5 s of the main thread's CPU in one
 * open-loop run), which the accept path never meets on AWS.
 */
export async function startPgCountingProxyThread(targetUrl: string): Promise<{ url: string; read(): Promise<PgRoundTrips>; close(): Promise<void> }> {
  const entry = new URL('./pg-proxy-thread.ts', import.meta.url).href;
  // A worker does not run .ts on its own: it registers tsx first, as local/api-worker.ts does.
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
  const worker = new Worker(boot, { eval: true, workerData: { targetUrl } });
  const waiting = new Map<number, (counts: PgRoundTrips) => void>();
  let nextId = 1;
  const url = await new Promise<string>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (message: { type: 'ready'; url: string } | { type: 'counts'; id: number; counts: PgRoundTrips }) => {
      if (message.type === 'ready') resolve(message.url);
      else {
        waiting.get(message.id)?.(message.counts);
        waiting.delete(message.id);
      }
    });
  });
  return {
    url,
    read: () =>
      new Promise<PgRoundTrips>((resolve) => {
        const id = nextId++;
        waiting.set(id, resolve);
        worker.postMessage({ type: 'read', id });
      }),
    close: async () => {
      worker.postMessage({ type: 'close' });
      await worker.terminate();
    },
  };
}
