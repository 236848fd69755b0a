import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Log } from '../lambdas/shared/logger.js';
import type { InstanceSwitch } from './api-worker-routes.js';

/** CPU and event-loop use of one thread since the previous reading. */
export interface ThreadUsage {
  /** user + system CPU of the thread itself (Linux: /proc/thread-self; elsewhere its event loop's active time) */
  cpuMs: number;
  eventLoopUtilization: number;
}

export type ToApiThread =
  | { type: 'start'; port: number; maxBodyBytes: number; env: Record<string, string> }
  | { type: 'usage'; id: number }
  | { type: 'instances-done'; id: number; error?: string }
  | { type: 'close' };

export type FromApiThread =
  | { type: 'loaded' }
  | { type: 'listening'; url: string }
  | { type: 'failed'; message: string }
  | { type: 'usage'; id: number; usage: ThreadUsage }
  | { type: 'instances'; id: number; action: 'stop' | 'start'; instanceId: string }
  | { type: 'closed' };

export interface ApiWorker {
  url: string;
  /** The API thread's CPU and event-loop use since the previous call (the first call: since it started). */
  usage(): Promise<ThreadUsage>;
  /** Closes the server and the thread's database pool, then ends the thread (terminated if it lingers). */
  close(): Promise<void>;
}

const CLOSE_GRACE_MS = 5_000;
const START_TIMEOUT_MS = 120_000;
const CALL_TIMEOUT_MS = 10_000;

export interface ApiThread {
  /** Serves the API on `port` with this process's environment plus `env`, once the thread has loaded. */
  start(opts: { port: number; maxBodyBytes: number; env?: Record<string, string> }): Promise<ApiWorker>;
  /** Ends the thread, started or not. */
  close(): Promise<void>;
}

/**
 * The API Lambda's handler behind the local HTTP server, in a worker thread of its own, so the
 * workflow engine, the step handlers and the emulators never queue its requests on their event
 * loop. It reaches everything as it would on AWS: the database over TCP, Step Functions and S3
 * over HTTP, all through the environment it is started with. The one thing kept in this thread's
 * memory, which emulated instances are stopped, is switched by message.
 *
 * The thread starts loading its modules at once (most of its start-up), while the caller starts
 * what the API talks to; `start()` then hands it the environment.
 */
export function spawnApiThread(opts: { instances: InstanceSwitch; log: Log }): ApiThread {
  const entry = new URL('./api-worker-thread.ts', import.meta.url).href;
  // A worker does not run .ts on its own: it registers tsx first, as `npm start` does for this thread.
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
  const worker = new Worker(boot, { eval: true });

  let nextId = 1;
  const usageWaiters = new Map<number, (usage: ThreadUsage) => void>();
  let exited = false;
  let closing = false;
  const exit = new Promise<number>((resolve) => worker.once('exit', resolve));
  void exit.then((code) => {
    exited = true;
    for (const [, waiter] of usageWaiters) waiter({ cpuMs: Number.NaN, eventLoopUtilization: Number.NaN });
    usageWaiters.clear();
    if (!closing) opts.log.error('the API worker exited', { exitCode: code });
  });
  worker.on('error', (err) => opts.log.error('the API worker failed', { error: err.message }));
  const loaded = new Promise<void>((resolve) => {
    const onLoaded = (message: FromApiThread) => {
      if (message.type !== 'loaded') return;
      worker.off('message', onLoaded);
      resolve();
    };
    worker.on('message', onLoaded);
  });

  worker.on('message', (message: FromApiThread) => {
    if (message.type === 'usage') {
      usageWaiters.get(message.id)?.(message.usage);
      usageWaiters.delete(message.id);
    } else if (message.type === 'instances') {
      Promise.resolve()
        .then(() => opts.instances[message.action](message.instanceId))
        .then(
          () => worker.postMessage({ type: 'instances-done', id: message.id } satisfies ToApiThread),
          (err: Error) => worker.postMessage({ type: 'instances-done', id: message.id, error: err.message } satisfies ToApiThread),
        );
    }
  });

  const close = async () => {
    if (closing || exited) return;
    closing = true;
    worker.postMessage({ type: 'close' } satisfies ToApiThread);
    const grace = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), CLOSE_GRACE_MS).unref());
    if ((await Promise.race([exit, grace])) === 'late') await worker.terminate();
  };

  const usage = () =>
    new Promise<ThreadUsage>((resolve, reject) => {
      if (exited) return reject(new Error('the API worker has exited'));
      const id = nextId++;
      const timer = setTimeout(() => {
        usageWaiters.delete(id);
        reject(new Error('the API worker did not report its usage'));
      }, CALL_TIMEOUT_MS);
      usageWaiters.set(id, (reading) => {
        clearTimeout(timer);
        resolve(reading);
      });
      worker.postMessage({ type: 'usage', id } satisfies ToApiThread);
    });

  return {
    close,
    async start({ port, maxBodyBytes, env = {} }) {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the API worker did not listen within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
        const onMessage = (message: FromApiThread) => {
          if (message.type !== 'listening' && message.type !== 'failed') return;
          clearTimeout(timer);
          worker.off('message', onMessage);
          if (message.type === 'listening') resolve(message.url);
          else reject(new Error(`the API worker could not start: ${message.message}`));
        };
        worker.on('message', onMessage);
        void exit.then((code) => {
          clearTimeout(timer);
          reject(new Error(`the API worker exited (${code}) before it listened`));
        });
        void loaded.then(() => {
          const environment: Record<string, string> = {};
          for (const [name, value] of Object.entries({ ...process.env, ...env })) if (value !== undefined) environment[name] = value;
          worker.postMessage({ type: 'start', port, maxBodyBytes, env: environment } satisfies ToApiThread);
        });
      });
      return { url, usage, close };
    },
  };
}

/**
 * A meter of the calling thread: CPU from `/proc/thread-self/stat` (utime + stime, in clock ticks
 * of 10 ms) where Linux has it, else the event loop's active time; `read()` returns the use since
 * the previous read.
 */
export function threadMeter(): { read(): ThreadUsage } {
  const cpu = (): number | undefined => {
    try {
      const stat = readFileSync('/proc/thread-self/stat', 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      return undefined;
    }
  };
  let elu = performance.eventLoopUtilization();
  let cpuAt = cpu();
  return {
    read() {
      const sinceElu = performance.eventLoopUtilization(elu);
      const nowCpu = cpu();
      const usage = {
        cpuMs: nowCpu !== undefined && cpuAt !== undefined ? nowCpu - cpuAt : sinceElu.active,
        eventLoopUtilization: sinceElu.utilization,
      };
      elu = performance.eventLoopUtilization();
      cpuAt = nowCpu;
      return usage;
    },
  };
}
