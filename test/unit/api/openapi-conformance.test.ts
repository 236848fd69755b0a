import { describe, expect, it } from 'vitest';
import { assertConformsToOpenApi } from '../../support/openapi-conformance.js';

const json = (status: number, body: unknown) => ({ status, headers: new Headers({ 'content-type': 'application/json' }), body });

const operation = {
  operationId: '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b',
  workspaceId: 'ws-1',
  orgId: 'acme',
  kind: 'install',
  status: 'SUCCEEDED',
  plugin: 'hello-skill',
  source: 'local://hello-skill',
  sha256: 'a'.repeat(64),
  executionArn: null,
  executionName: 'install-ws-1-hello-skill-6f1c2a3b',
  consoleUrl: null,
  createdAt: '2026-12-01T09:00:00.000Z',
  updatedAt: '2026-12-01T09:00:01.000Z',
  steps: [{ name: 'Stage', status: 'SUCCEEDED', startedAt: '2026-12-01T09:00:00.100Z', endedAt: '2026-12-01T09:00:00.500Z', attempts: 1, retries: [] }],
  warnings: [],
};

describe('the e2e check of answers against the OpenAPI document', () => {
  it('accepts an answer the document describes', () => {
    expect(() => assertConformsToOpenApi('GET', '/health', json(200, { status: 'ok' }))).not.toThrow();
    expect(() => assertConformsToOpenApi('GET', '/operations/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b', json(200, operation))).not.toThrow();
    expect(() => assertConformsToOpenApi('HEAD', '/health', json(200, undefined))).not.toThrow();
  });

  it('rejects a body the schema does not allow', () => {
    expect(() => assertConformsToOpenApi('GET', '/health', json(200, { status: 'fine' }))).toThrow(/does not match/);
    expect(() => assertConformsToOpenApi('GET', '/operations/x', json(200, { ...operation, secret: 1 }))).toThrow(/additional properties/);
    expect(() => assertConformsToOpenApi('GET', '/operations/x', json(200, { ...operation, createdAt: 'yesterday' }))).toThrow(/createdAt/);
  });

  it('rejects a status the route does not list, and an error code that status does not list for it', () => {
    expect(() => assertConformsToOpenApi('GET', '/health', json(404, { error: 'x', code: 'not_found' }))).toThrow(/lists no 404/);
    expect(() => assertConformsToOpenApi('GET', '/operations', json(404, { error: 'x', code: 'workspace_not_found' }))).toThrow(/lists no 404/);
    expect(() => assertConformsToOpenApi('GET', '/operations/x', json(404, { error: 'x', code: 'workspace_not_found' }))).toThrow(/code/);
    expect(() => assertConformsToOpenApi('GET', '/operations/x', json(404, { error: 'x', code: 'operation_not_found' }))).not.toThrow();
  });

  it("takes the router's own 404 and 405 for a request no route takes, and nothing else", () => {
    expect(() => assertConformsToOpenApi('GET', '/nope', json(404, { error: 'no route', code: 'not_found' }))).not.toThrow();
    expect(() => assertConformsToOpenApi('PATCH', '/health', json(405, { error: 'no', code: 'method_not_allowed', allowed: ['GET', 'HEAD'] }))).not.toThrow();
    expect(() => assertConformsToOpenApi('GET', '/nope', json(200, { status: 'ok' }))).toThrow(/no documented route/);
  });

  it('picks the route the router picks when two paths match', () => {
    // `operations` as a plugin name: the operation route answers (see the document test's known ambiguity).
    expect(() =>
      assertConformsToOpenApi('GET', '/workspaces/w/plugins/operations/download', json(404, { error: 'x', code: 'operation_not_found' })),
    ).not.toThrow();
    expect(() => assertConformsToOpenApi('GET', '/workspaces/w/plugins/available?x=1', json(200, []))).not.toThrow();
  });
});
