/**
 * The API's thread (started by `api-worker.ts`): the API Lambda's handler behind the local HTTP
 * server. Everything it reaches comes from the environment the worker was given.
 */
import { parentPort } from 'node:worker_threads';
import { createApiHandler } from '../lambdas/handlers/api.js';
import { resetRuntime } from '../lambdas/runtime.js';
import { logger } from '../lambdas/shared/logger.js';
import { startLocalApiServer } from './api-server.js';
import { threadMeter, type FromApiThread, type ToApiThread } from './api-worker.js';
import { localInstanceRoutes } from './api-worker-routes.js';

const port = parentPort!;
const send = (message: FromApiThread) => port.postMessage(message);
const SWITCH_TIMEOUT_MS = 10_000;

let nextId = 1;
const switching = new Map<number, (error?: string) => void>();
/** Stops and starts emulated instances in the thread that owns them. */
const instances = {
  stop: (instanceId: string) => switchInstance('stop', instanceId),
  start: (instanceId: string) => switchInstance('start', instanceId),
};
function switchInstance(action: 'stop' | 'start', instanceId: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    const timer = setTimeout(() => {
      switching.delete(id);
      reject(new Error(`the stack did not ${action} instance ${instanceId}`));
    }, SWITCH_TIMEOUT_MS);
    switching.set(id, (error) => {
      clearTimeout(timer);
      if (error) reject(new Error(error));
      else resolve();
    });
    send({ type: 'instances', id, action, instanceId });
  });
}

const meter = threadMeter();
let api: { close(): Promise<void> } | undefined;

port.on('message', (message: ToApiThread) => {
  if (message.type === 'start') void start(message);
  else if (message.type === 'usage') send({ type: 'usage', id: message.id, usage: meter.read() });
  else if (message.type === 'instances-done') {
    switching.get(message.id)?.(message.error);
    switching.delete(message.id);
  } else if (message.type === 'close') {
    void (async () => {
      await api?.close().catch(() => undefined);
      await resetRuntime().catch(() => undefined);
      send({ type: 'closed' });
      port.close();
    })();
  }
});
send({ type: 'loaded' });

async function start(message: Extract<ToApiThread, { type: 'start' }>) {
  // The stack's environment: the endpoints of the database, S3 and Step Functions it started.
  Object.assign(process.env, message.env);
  try {
    const server = await startLocalApiServer({
      handler: createApiHandler(localInstanceRoutes(instances)),
      port: message.port,
      maxBodyBytes: message.maxBodyBytes,
    });
    api = server;
    send({ type: 'listening', url: server.url });
  } catch (err) {
    logger.error('the API could not start', { error: (err as Error).message });
    send({ type: 'failed', message: (err as Error).message });
  }
}
