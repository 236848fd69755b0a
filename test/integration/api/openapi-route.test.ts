import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiHandler } from '../../../lambdas/handlers/api.js';
import { resetRuntime } from '../../../lambdas/runtime.js';
import { httpApiEvent } from '../../support/http-api-event.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';

/** The deployed shape: API Gateway's `ANY /{proxy+}` route (no authorizer) hands `/openapi.json` to the API Lambda. */
let t: TestDatabase;
let handler: ReturnType<typeof createApiHandler>;

beforeAll(async () => {
  t = await createTestDatabase();
  vi.stubEnv('DATABASE_URL', t.url);
  vi.stubEnv('DATABASE_SECRET_ARN', undefined);
  vi.stubEnv('ADMIN_TOKEN', 'admin-token-for-openapi-test');
  await resetRuntime();
  handler = createApiHandler();
});
afterAll(async () => {
  await resetRuntime();
  vi.unstubAllEnvs();
  await t?.close();
});

describe('GET /openapi.json through API Gateway', () => {
  it('answers the OpenAPI document without a token, describing the routes API Gateway serves', async () => {
    const res = await handler(httpApiEvent('GET', '/openapi.json'));
    expect(res.statusCode).toBe(200);
    expect(res.headers?.['content-type']).toBe('application/json');
    const document = JSON.parse(String(res.body));
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/health', '/workspaces/{id}/plugins', '/openapi.json']));
    // The local stack's own routes are not the deployed API's.
    expect(Object.keys(document.paths).some((path) => path.startsWith('/admin/local/'))).toBe(false);
  });
});
