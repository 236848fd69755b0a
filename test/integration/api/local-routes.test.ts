import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestApi } from '../../support/api.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { mintToken } from '../../../lambdas/store/tokens.js';
import { LocalInstances } from '../../../local/instances.js';
import { localInstanceRoutes } from '../../../local/stack.js';

/** The local stack's stop/start routes go through the API: its auth, its router, its error bodies. */
let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
let orgToken = '';
const dir = mkdtempSync(join(tmpdir(), 'local-routes-'));
const instances = new LocalInstances(dir);
const INSTANCE = 'i-0123456789abcdef0';

beforeAll(async () => {
  t = await createTestDatabase();
  api = createTestApi(t.db, { adminToken: 'admin', routes: localInstanceRoutes(instances) });
  await upsertWorkspace(t.db, 'ws', { orgId: 'org', runtime: 'claude-code', instanceId: INSTANCE });
  orgToken = (await mintToken(t.db, 'org', { orgId: 'org' })).token;
});
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

const call = async (method: string, path: string, token?: string) => {
  const res = await api({ method, path, query: {}, body: undefined, requestId: 'req', headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.statusCode, headers: res.headers, body: res.body ? (JSON.parse(res.body) as Record<string, unknown>) : undefined };
};

describe('POST /admin/local/instances/{id}/stop|start', () => {
  it('answers as every admin route does: 401 without a valid token, 403 for a valid non-admin token', async () => {
    for (const path of [`/admin/local/instances/${INSTANCE}/stop`, '/admin/cleanup/run']) {
      const none = await call('POST', path);
      expect(none, path).toMatchObject({ status: 401, body: { code: 'unauthorized' } });
      expect(none.headers['www-authenticate']).toBe('Bearer');
      expect((await call('POST', path, 'not-a-token')).status, path).toBe(401);
      expect(await call('POST', path, orgToken), path).toMatchObject({ status: 403, body: { code: 'forbidden', error: 'this route needs the admin token' } });
    }
    expect(instances.isRunning(INSTANCE)).toBe(true);
  });

  it('stops and starts an instance for the admin token', async () => {
    expect(await call('POST', `/admin/local/instances/${INSTANCE}/stop`, 'admin')).toMatchObject({
      status: 200,
      body: { instanceId: INSTANCE, state: 'stopped' },
    });
    expect(instances.isRunning(INSTANCE)).toBe(false);
    expect(await call('POST', `/admin/local/instances/${INSTANCE}/start`, 'admin')).toMatchObject({
      status: 200,
      body: { instanceId: INSTANCE, state: 'running' },
    });
    expect(instances.isRunning(INSTANCE)).toBe(true);
  });

  it('maps a bad instance id and a wrong method through the API error mapper', async () => {
    expect(await call('POST', '/admin/local/instances/box-1/stop', 'admin')).toMatchObject({
      status: 400,
      body: { code: 'invalid_request', error: 'invalid instance id' },
    });
    const get = await call('GET', `/admin/local/instances/${INSTANCE}/stop`, 'admin');
    expect(get).toMatchObject({ status: 405, body: { code: 'method_not_allowed' } });
    expect(get.headers.allow).toBe('POST');
  });
});

describe('encoded path segments', () => {
  it('takes %2e%2e as a workspace id (answered as unknown), not as a way up the path', async () => {
    expect(await call('GET', '/workspaces/%2e%2e/plugins', orgToken)).toMatchObject({ status: 404, body: { code: 'workspace_not_found' } });
    expect(await call('GET', '/workspaces/ws/plugins/%2e%2e/download', orgToken)).toMatchObject({ status: 400, body: { code: 'invalid_plugin_name' } });
  });
});
