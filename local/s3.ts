import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import S3rver from 's3rver';
import { NO_FAULTS, type Faults } from './faults.js';

export interface LocalS3 {
  url: string;
  close(): Promise<void>;
}

/** The slice of Koa's middleware API s3rver (a Koa app) exposes, enough to answer a fault first. */
interface KoaContext {
  status: number;
  body: unknown;
  set(field: string, value: string): void;
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void> | void;

/**
 * S3 on a loopback port (s3rver), objects kept under `directory`; buckets created up front.
 * `s3.error` and `s3.throttle` answer any request (the SDK's and the hosts' presigned downloads)
 * with S3's own `InternalError` (500) and `SlowDown` (503) documents.
 */
export async function startLocalS3(opts: { directory: string; buckets: string[]; port?: number; faults?: Faults }): Promise<LocalS3> {
  mkdirSync(opts.directory, { recursive: true });
  const faults = opts.faults ?? NO_FAULTS;
  const server = new S3rver({
    address: '127.0.0.1',
    port: opts.port ?? 0,
    silent: true,
    directory: opts.directory,
    allowMismatchedSignatures: true,
    configureBuckets: opts.buckets.map((name) => ({ name, configs: [] })),
  });
  const injectFault: KoaMiddleware = (ctx, next) => {
    const fault = faults.roll('s3', 'error')
      ? { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' }
      : faults.roll('s3', 'throttle')
        ? { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' }
        : undefined;
    if (!fault) return next();
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    ctx.status = fault.status;
    ctx.set('content-type', 'application/xml');
    ctx.set('x-amz-request-id', requestId);
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>${fault.message}</Message><RequestId>${requestId}</RequestId><HostId>${randomBytes(24).toString('base64')}</HostId></Error>`;
  };
  // Koa composes its middleware when the server starts listening, so this runs before s3rver's own.
  (server as unknown as { middleware: KoaMiddleware[] }).middleware.unshift(injectFault);
  const address = (await server.run()) as AddressInfo;
  return { url: `http://127.0.0.1:${address.port}`, close: () => server.close() };
}
