import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, PluginDeliveryClient } from '../../../packages/sdk/src/client.js';

/** A real HTTP server that answers from a script of responses and records what it was asked. */
async function scriptedServer(answers: Array<{ status: number; body?: unknown; headers?: Record<string, string> }>) {
  const seen: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req);
    const answer = answers[Math.min(seen.length - 1, answers.length - 1)]!;
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
    res.end(JSON.stringify(answer.body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('the SDK client', () => {
  it('retries a read on 503 and returns the answer that follows', async () => {
    const { url, seen } = await scriptedServer([
      { status: 503, body: { code: 'platform_unavailable' } },
      { status: 200, body: [] },
    ]);
    const client = new PluginDeliveryClient({ baseUrl: url, token: 't' });
    expect(await client.listInstalled('ws 1')).toEqual([]);
    expect(seen.map((r) => r.url)).toEqual(['/workspaces/ws%201/plugins', '/workspaces/ws%201/plugins']);
    expect(seen[0]!.headers.authorization).toBe('Bearer t');
  });

  it('retries an install with the same Idempotency-Key, so the API sees one request', async () => {
    const { url, seen } = await scriptedServer([{ status: 502 }, { status: 202, body: { status: 'installing', operationId: 'op' } }]);
    const accepted = await new PluginDeliveryClient({ baseUrl: url, token: 't' }).install('ws', { source: 'hello' });
    expect(accepted.operationId).toBe('op');
    expect(seen).toHaveLength(2);
    expect(seen[0]!.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen[1]!.headers['idempotency-key']).toBe(seen[0]!.headers['idempotency-key']);
  });

  it('never retries an uninstall, and reports the API error with its code and context', async () => {
    const { url, seen } = await scriptedServer([{ status: 503, body: { error: 'the platform database is unavailable', code: 'platform_unavailable' } }]);
    const failure = await new PluginDeliveryClient({ baseUrl: url, token: 't' }).uninstall('ws', 'x').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure).toMatchObject({ status: 503, code: 'platform_unavailable', message: 'the platform database is unavailable' });
    expect(seen).toHaveLength(1);
  });

  it('does not retry a client error', async () => {
    const { url, seen } = await scriptedServer([{ status: 400, body: { error: 'bad', code: 'invalid_source', available_schemes: ['local'] } }]);
    const failure = await new PluginDeliveryClient({ baseUrl: url, token: 't' }).install('ws', { source: 'ftp://x' }).catch((e: unknown) => e);
    expect(failure).toMatchObject({ status: 400, code: 'invalid_source', details: { available_schemes: ['local'] } });
    expect(seen).toHaveLength(1);
  });

  it('gives up after its attempts with a network error when nothing listens', async () => {
    const { url } = await scriptedServer([{ status: 200 }]);
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const failure = await new PluginDeliveryClient({ baseUrl: url, token: 't', attempts: 2 }).sources().catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'network_error' });
  });
});
