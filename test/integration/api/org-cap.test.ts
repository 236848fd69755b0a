import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createApiHandler } from '../../../lambdas/handlers/api.js';
import { resetRuntime } from '../../../lambdas/runtime.js';
import { logger } from '../../../lambdas/shared/logger.js';
import { upsertInstalled } from '../../../lambdas/store/installed.js';
import { finishOperation } from '../../../lambdas/store/operations.js';
import { mintToken } from '../../../lambdas/store/tokens.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { type LocalApiServer, startLocalApiServer } from '../../../local/api-server.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';

/**
 * The per-org cap on operations in flight, over HTTP against the API Lambda's handler and a real
 * PostgreSQL. Step Functions is mocked, so every accepted operation stays RUNNING until the test
 * closes it: exactly the state the cap counts.
 */
const CAP = 2;
let t: TestDatabase;
let server: LocalApiServer;
let acme = '';
let globex = '';
const sfn = mockClient(SFNClient);
const logLines: string[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  vi.stubEnv('DATABASE_URL', t.url);
  vi.stubEnv('DATABASE_SECRET_ARN', undefined);
  vi.stubEnv('ADMIN_TOKEN', 'admin-token-for-cap-test');
  vi.stubEnv('STATE_MACHINE_ARN', 'arn:aws:states:eu-west-1:123456789012:stateMachine:delivery');
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('PLUGIN_MAX_OPERATIONS_PER_ORG', String(CAP));
  await resetRuntime();
  for (const ws of ['ws-a', 'ws-b', 'ws-c']) await upsertWorkspace(t.db, ws, { orgId: 'acme', runtime: 'claude-code', instanceId: 'i-0123456789abcdef0' });
  await upsertWorkspace(t.db, 'ws-g', { orgId: 'globex', runtime: 'claude-code', instanceId: 'i-0123456789abcdef1' });
  await upsertInstalled(t.db, {
    workspaceId: 'ws-c',
    name: 'old-rules',
    version: '1.0.0',
    source: 'local://old-rules',
    sha256: 'a'.repeat(64),
    skills: [],
    runtimes: [],
    uninstallAt: null,
  });
  acme = (await mintToken(t.db, 'org', { orgId: 'acme' })).token;
  globex = (await mintToken(t.db, 'org', { orgId: 'globex' })).token;
  server = await startLocalApiServer({ handler: createApiHandler(), port: 0, maxBodyBytes: 64 * 1024 });
  logger.setLogLevel('INFO');
  const write = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = String(chunk);
    if (text.startsWith('{"level"')) {
      if (text.includes('"message":"request"')) logLines.push(text);
      return true;
    }
    return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
  });
});
afterAll(async () => {
  vi.restoreAllMocks();
  logger.setLogLevel('SILENT');
  await server?.close();
  await resetRuntime();
  vi.unstubAllEnvs();
  await t?.close();
});
beforeEach(() => {
  sfn.reset();
  sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: `arn:aws:states:eu-west-1:123456789012:execution:delivery:${input.name}`,
    startDate: new Date(),
  }));
});

async function call(method: string, path: string, token: string, opts: { body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...opts.headers },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

const install = (ws: string, plugin: string, token = acme, headers: Record<string, string> = {}) =>
  call('POST', `/workspaces/${ws}/plugins`, token, { body: { source: `local://${plugin}` }, headers });

const operationsOf = async (orgId: string) =>
  (await t.db.query<{ id: string; status: string }>('SELECT id, status FROM plugin_operations WHERE org_id = $1 ORDER BY created_at', [orgId])).rows;

describe('per-org cap on operations in flight', () => {
  let first = '';

  it('accepts operations up to the cap', async () => {
    const a = await install('ws-a', 'alpha', acme, { 'idempotency-key': 'alpha-once' });
    const b = await install('ws-b', 'beta');
    expect([a.status, b.status]).toEqual([202, 202]);
    first = String(a.body.operationId);
    expect(a.headers.get('x-operation-id')).toBe(first);
  });

  it('refuses an install past the cap with 429 too_many_operations and Retry-After, starting and recording nothing', async () => {
    const before = await operationsOf('acme');
    const res = await install('ws-c', 'gamma');
    expect(res.status).toBe(429);
    expect(res.body).toMatchObject({ code: 'too_many_operations', limit: CAP, inFlight: CAP, error: expect.stringContaining('operations in flight') });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(await operationsOf('acme')).toEqual(before);
  });

  it('refuses an uninstall past the cap the same way', async () => {
    const res = await call('DELETE', '/workspaces/ws-c/plugins/old-rules', acme);
    expect(res.status).toBe(429);
    expect(res.body.code).toBe('too_many_operations');
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect((await operationsOf('acme')).filter((o) => o.status === 'RUNNING')).toHaveLength(CAP);
  });

  it('answers a replay of an accepted operation even at the cap', async () => {
    const res = await install('ws-a', 'alpha', acme, { 'idempotency-key': 'alpha-once' });
    expect(res.status).toBe(202);
    expect(res.body.operationId).toBe(first);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it("counts per org: another org's operations are not held back", async () => {
    expect((await install('ws-g', 'alpha', globex)).status).toBe(202);
  });

  it('accepts again once an operation finishes', async () => {
    await finishOperation(t.db, first, 'SUCCEEDED');
    const res = await install('ws-c', 'gamma');
    expect(res.status).toBe(202);
    expect((await install('ws-a', 'delta')).status).toBe(429);
  });

  it('logs one line per request with the request id, route, status, duration and operation id', async () => {
    const res = await install('ws-g', 'epsilon', globex);
    expect(res.status).toBe(202);
    const requestId = res.headers.get('x-request-id');
    const line = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.requestId === requestId);
    expect(line).toMatchObject({
      message: 'request',
      method: 'POST',
      path: '/workspaces/ws-g/plugins',
      route: '/workspaces/:id/plugins',
      status: res.status,
      ms: expect.any(Number),
    });
    expect(line?.operationId).toBe(res.body.operationId);
    const refused = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    for (const l of refused) expect(l.operationId).toBeUndefined();
  });
});
