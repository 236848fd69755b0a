import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server standing in for the Molecule platform's registry, secrets, state, peers and
 * A2A endpoints (not this service's): each route answers from a script, in order, the last answer
 * repeating, with the status codes, bodies and headers the platform uses. It records every request.
 */
export interface Answer {
  status: number;
  body?: unknown;
  /** Sent as it is (a tarball), instead of `body` as JSON. */
  raw?: Buffer;
  headers?: Record<string, string>;
}

export interface Recorded {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface FakePlatform {
  url: string;
  requests: Recorded[];
  /** Requests to one route, `"POST /registry/register"`. */
  to(route: string): Recorded[];
  answer(route: string, ...answers: Array<Answer | ((url: string) => Answer)>): void;
  close(): Promise<void>;
}

export async function fakePlatform(): Promise<FakePlatform> {
  const routes = new Map<string, Array<Answer | ((url: string) => Answer)>>();
  const served = new Map<string, number>();
  const requests: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const route = `${req.method} ${path}`;
      const text = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: text ? JSON.parse(text) : undefined });
      const script = routes.get(route);
      if (!script) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
        return;
      }
      const n = served.get(route) ?? 0;
      served.set(route, n + 1);
      const next = script[Math.min(n, script.length - 1)];
      const answer = typeof next === 'function' ? next(platform.url) : next;
      if (!answer) throw new Error(`no answer for ${route}`);
      if (answer.raw) {
        res.writeHead(answer.status, { 'content-type': 'application/gzip', 'content-length': String(answer.raw.length), ...answer.headers }).end(answer.raw);
      } else {
        res
          .writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers })
          .end(answer.body === undefined ? '' : JSON.stringify(answer.body));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const platform: FakePlatform = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    to: (route) => requests.filter((r) => `${r.method} ${r.path.split('?')[0]}` === route),
    answer: (route, ...answers) => {
      routes.set(route, answers);
      served.delete(route);
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  return platform;
}
