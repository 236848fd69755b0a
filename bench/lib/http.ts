import { Agent, request } from 'node:http';

export interface HttpResult {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: benchmark callers read whatever JSON each route returns
  body: any;
  /** from the call to the last byte of the response */
  ms: number;
}

/** A keep-alive HTTP/1.1 client for the local API (one pooled connection per concurrent caller). */
export class HttpClient {
  private readonly agent: Agent;
  private readonly base: URL;
  private readonly seen = new WeakSet<object>();
  /** connections this client has opened so far (each socket counted once, however often reused) */
  socketsOpened = 0;

  constructor(baseUrl: string, maxSockets = 64) {
    this.base = new URL(baseUrl);
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  request(
    method: string,
    path: string,
    opts: { token?: string; body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<HttpResult> {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string | number> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const req = request(
        { agent: this.agent, host: this.base.hostname, port: this.base.port, method, path, headers, timeout: opts.timeoutMs ?? 60_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const ms = performance.now() - started;
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = text;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON: keep the text
            }
            resolve({ status: res.statusCode ?? 0, body, ms });
          });
        },
      );
      req.once('socket', (socket) => {
        if (this.seen.has(socket)) return;
        this.seen.add(socket);
        this.socketsOpened += 1;
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `task(i)` for i in [0, n) with at most `concurrency` in flight. */
export async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

/** Creates workspaces on emulated instances and an org token, through the admin API. */
export async function setupWorkspaces(
  http: HttpClient,
  adminToken: string,
  orgId: string,
  workspaces: Array<{ id: string; instanceId: string }>,
): Promise<string> {
  await pool(workspaces.length, 8, async (i) => {
    const ws = workspaces[i]!;
    const res = await http.request('PUT', `/admin/workspaces/${ws.id}`, {
      token: adminToken,
      body: { orgId, runtime: 'claude-code', instanceId: ws.instanceId },
    });
    if (res.status >= 300) throw new Error(`creating workspace ${ws.id}: ${res.status} ${JSON.stringify(res.body)}`);
  });
  const res = await http.request('POST', `/admin/orgs/${orgId}/tokens`, { token: adminToken });
  if (res.status >= 300 || !res.body?.token) throw new Error(`minting an org token: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token as string;
}

/** `i-0be` + a phase digit + 13 hex digits: valid, unique per (phase, index). */
export function instanceId(phase: number, index: number): string {
  return `i-0be${phase.toString(16)}${index.toString(16).padStart(13, '0')}`;
}
