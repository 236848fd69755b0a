import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

/** S3 request tiers as billed: PUT/COPY/POST/LIST, GET/HEAD (and other reads), DELETE (free). */
export type S3Tier = 'put' | 'get' | 'delete';

export interface S3Counts {
  put: number;
  get: number;
  delete: number;
  /** by `METHOD kind`, e.g. `PUT object`, `GET list` */
  detail: Record<string, number>;
}

export interface CountingProxy {
  url: string;
  counts(): S3Counts;
  close(): Promise<void>;
}

function classify(method: string, url: string): { tier: S3Tier; kind: string } {
  const u = new URL(url, 'http://x');
  const segments = u.pathname.split('/').filter(Boolean);
  const isObject = segments.length >= 2; // path style: /bucket/key
  if (method === 'DELETE') return { tier: 'delete', kind: isObject ? 'object' : 'bucket' };
  if (method === 'PUT' || method === 'POST') return { tier: 'put', kind: isObject ? 'object' : 'bucket' };
  if (!isObject && method === 'GET') return { tier: 'put', kind: 'list' }; // LIST is billed with PUTs
  return { tier: 'get', kind: isObject ? 'object' : 'bucket' };
}

/**
 * A pass-through HTTP proxy in front of the local S3 that counts requests by billing tier. Every
 * S3 request of the stack (the SDK's and the hosts' presigned downloads) goes through it once
 * `AWS_ENDPOINT_URL_S3` points here.
 */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const counts: S3Counts = { put: 0, get: 0, delete: 0, detail: {} };
  const server = createServer((req, res) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const { tier, kind } = classify(method, req.url ?? '/');
    counts[tier] += 1;
    const key = `${method} ${kind}`;
    counts.detail[key] = (counts.detail[key] ?? 0) + 1;
    const out = httpRequest({ host: upstream.hostname, port: upstream.port, method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => ({ ...counts, detail: { ...counts.detail } }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
