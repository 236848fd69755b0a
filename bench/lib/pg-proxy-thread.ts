/**
 * The worker thread behind `startPgCountingProxyThread` (pg-proxy.ts): runs the counting proxy on
 * an event loop of its own and answers `read` with the counts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startPgCountingProxy } from './pg-proxy.js';

const port = parentPort;
if (!port) throw new Error('pg-proxy-thread.ts runs as a worker thread');
const proxy = await startPgCountingProxy((workerData as { targetUrl: string }).targetUrl);
port.on('message', (message: { type: 'read'; id: number } | { type: 'close' }) => {
  if (message.type === 'read') port.postMessage({ type: 'counts', id: message.id, counts: proxy.read() });
  else void proxy.close().then(() => port.close());
});
port.postMessage({ type: 'ready', url: proxy.url });
