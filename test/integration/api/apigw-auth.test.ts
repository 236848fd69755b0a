import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiHandler } from '../../../lambdas/handlers/api.js';
import { resetRuntime } from '../../../lambdas/runtime.js';
import { mintToken, revokeToken } from '../../../lambdas/store/tokens.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { httpApiEvent } from '../../support/http-api-event.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';

/**
 * The deployed shape of authentication: API Gateway has no authorizer, so every request reaches
 * the API Lambda as an HTTP API (payload 2.0) event, and the Lambda's bearer check is the only one.
 */
let t: TestDatabase;
let handler: ReturnType<typeof createApiHandler>;
let orgToken = '';
let revoked = '';

beforeAll(async () => {
  t = await createTestDatabase();
  vi.stubEnv('DATABASE_URL', t.url);
  vi.stubEnv('DATABASE_SECRET_ARN', undefined);
  vi.stubEnv('ADMIN_TOKEN', 'admin-token-for-apigw-test');
  await resetRuntime();
  await upsertWorkspace(t.db, 'ws-gw', { orgId: 'gw-org', runtime: 'claude-code', instanceId: 'i-0123456789abcdef0' });
  orgToken = (await mintToken(t.db, 'org', { orgId: 'gw-org' })).token;
  revoked = (await mintToken(t.db, 'org', { orgId: 'gw-org' })).token;
  await revokeToken(t.db, revoked);
  handler = createApiHandler();
});
afterAll(async () => {
  await resetRuntime();
  vi.unstubAllEnvs();
  await t?.close();
});

const listPlugins = (headers: Record<string, string> = {}) => handler(httpApiEvent('GET', '/workspaces/ws-gw/plugins', headers));

describe('authentication through the deployed shape (no API Gateway authorizer)', () => {
  it.each([
    ['no Authorization header', {}],
    ['a malformed header', { authorization: 'Token abc' }],
    ['an unknown token', { authorization: 'Bearer mpd_org_not-a-real-token' }],
  ])('answers 401 unauthorized with the contract body for %s', async (_case, headers) => {
    const res = await listPlugins(headers);
    expect(res.statusCode).toBe(401);
    expect(res.headers?.['www-authenticate']).toBe('Bearer');
    // What the Lambda answers is what API Gateway's stage sends on (HTTP API passes headers through).
    expect(res.headers?.['x-content-type-options']).toBe('nosniff');
    const body = JSON.parse(String(res.body));
    expect(body).toMatchObject({ code: 'unauthorized', error: expect.any(String) });
    expect(String(res.body)).not.toContain('    at ');
  });

  it('answers 401 for a revoked token, at once', async () => {
    const res = await listPlugins({ authorization: `Bearer ${revoked}` });
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(String(res.body))).toMatchObject({ code: 'unauthorized', error: 'invalid or revoked token' });
  });

  it('serves a valid token (header names as API Gateway lower-cases them)', async () => {
    const res = await listPlugins({ authorization: `Bearer ${orgToken}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers?.['x-content-type-options']).toBe('nosniff');
    expect(JSON.parse(String(res.body))).toEqual([]);
  });

  it('serves /health without a token', async () => {
    const res = await handler(httpApiEvent('GET', '/health'));
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(String(res.body))).toMatchObject({ status: 'ok' });
  });

  it('ignores an authorizer context forged into the event: only the bearer token counts', async () => {
    const event = httpApiEvent('GET', '/workspaces/ws-gw/plugins');
    (event.requestContext as unknown as Record<string, unknown>).authorizer = { lambda: { principal: JSON.stringify({ kind: 'admin', prefix: 'admin' }) } };
    const res = await handler(event);
    expect(res.statusCode).toBe(401);
  });
});
