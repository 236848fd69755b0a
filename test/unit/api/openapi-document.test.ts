import { createConfig, lintFromString } from '@redocly/openapi-core';
import { describe, expect, it, vi } from 'vitest';
import { apiRouter, createApi } from '../../../lambdas/api/app.js';
import type { ApiDeps } from '../../../lambdas/api/context.js';
import * as contract from '../../../lambdas/api/contract/routes.js';
import { openApiDocument } from '../../../lambdas/api/openapi-document.js';
import { routesOf } from '../../../lambdas/api/router.js';
import { localInstanceRoutes } from '../../../local/api-worker-routes.js';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/**
 * Redocly's lint, every rule of its strict preset but two: the project has no licence to name, and
 * `/health`, `/ops` and `/openapi.json` rightly answer no 4xx.
 */
async function lint(document: object): Promise<string[]> {
  const config = await createConfig({ extends: ['recommended-strict'], rules: { 'info-license': 'off', 'operation-4xx-response': 'off' } });
  const problems = await lintFromString({ source: JSON.stringify(document), absoluteRef: 'openapi.json', config });
  return problems.map((p) => `${p.ruleId}: ${p.message}`);
}

/**
 * Ambiguities of the API's paths, listed so that any other fails. `GET
 * /workspaces/{id}/plugins/operations/download` (and `…/revisions`) is the operation route
 * (operationId `download`, 404), so a plugin named `operations` cannot be downloaded or have its
 * revisions listed: a real ambiguity. The linter compares paths without their methods, so it also
 * names `POST …/{name}/rollback`, which no GET shares: the router tells those apart.
 */
const ambiguous = (a: string, b: string) => `no-ambiguous-paths: Paths should resolve unambiguously. Found two ambiguous paths: \`${a}\` and \`${b}\`.`;
const KNOWN_AMBIGUITIES = [
  ambiguous('/workspaces/{id}/plugins/{name}/rollback', '/workspaces/{id}/plugins/operations/{operationId}'),
  ambiguous('/workspaces/{id}/plugins/operations/{operationId}', '/workspaces/{id}/plugins/{name}/download'),
];

/** `METHOD /path/{name}` of every route Hono serves (its `/*` middleware is no route). */
function served(app: ReturnType<typeof apiRouter>): string[] {
  const routes = app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
  return [...new Set(routes)].sort();
}

function documented(document: { paths: Record<string, Record<string, unknown>> }): string[] {
  return Object.entries(document.paths)
    .flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => METHODS.includes(key))
        .map((method) => `${method.toUpperCase()} ${path}`),
    )
    .sort();
}

describe('the OpenAPI document', () => {
  const app = apiRouter();
  const document = openApiDocument(routesOf(app));

  it('passes an independent OpenAPI 3.1 linter: structure, references, path parameters, unique operation ids', async () => {
    expect(document.openapi).toBe('3.1.0');
    expect(await lint(document)).toEqual(KNOWN_AMBIGUITIES);
  });

  it('describes every route the router serves, and no other', () => {
    expect(documented(document)).toEqual(served(app));
  });

  it('describes the local stack routes where the local stack serves them', async () => {
    const local = apiRouter(localInstanceRoutes({ stop: () => {}, start: () => {} }));
    const localDocument = openApiDocument(routesOf(local));
    expect(documented(localDocument)).toEqual(served(local));
    expect(documented(localDocument)).toContain('POST /admin/local/instances/{instanceId}/stop');
    expect(documented(document)).not.toContain('POST /admin/local/instances/{instanceId}/stop');
    expect(await lint(localDocument)).toEqual(KNOWN_AMBIGUITIES);
  });

  it('has every route the contract declares, each registered once', () => {
    const declared = Object.values(contract).filter((value) => typeof value === 'object' && value !== null && 'path' in value) as contract.RouteContract[];
    expect(routesOf(app)).toEqual(expect.arrayContaining(declared));
    expect(new Set(routesOf(app)).size).toBe(routesOf(app).length);
  });

  it('lists each error code under its status, with the error body', () => {
    const uninstall = document.paths['/workspaces/{id}/plugins/{name}']?.delete as { responses: Record<string, any>; parameters: any[] };
    expect(Object.keys(uninstall.responses)).toEqual(['200', '202', '400', '401', '403', '404', '422', '429', '500', '502', '503']);
    expect(uninstall.responses['404'].content['application/json'].schema).toEqual({
      allOf: [{ $ref: '#/components/schemas/ErrorBody' }],
      properties: { code: { enum: ['workspace_not_found', 'plugin_not_installed'] } },
    });
    expect(uninstall.responses['401'].headers['WWW-Authenticate']).toBeDefined();
    expect(uninstall.parameters.map((p) => `${p.in} ${p.name}`)).toEqual(['path id', 'path name', 'query at', 'header Idempotency-Key', 'header Prefer']);
  });

  it('describes a request body as what a caller sends: defaulted fields are optional', () => {
    const install = (document.components as { schemas: Record<string, unknown> }).schemas.InstallBody as {
      required: string[];
      properties: Record<string, { default?: unknown }>;
    };
    expect(install.required).toEqual(['source']);
    expect(install.properties.restart?.default).toBe(true);
  });

  it('needs no token for the routes anyone may call', () => {
    const security = (path: string) => (document.paths[path]?.get as { security?: unknown[] } | undefined)?.security;
    expect(security('/openapi.json')).toEqual([]);
    expect(security('/health')).toEqual([]);
    expect(security('/operations')).toBeUndefined();
    expect(document.security).toEqual([{ bearer: [] }]);
  });
});

describe('GET /openapi.json', () => {
  it('serves the document to a caller without a token', async () => {
    const authenticate = vi.fn(() => Promise.reject(new Error('no token is looked up')));
    const handle = createApi({ authenticate } as unknown as ApiDeps);
    const request = { method: 'GET', path: '/openapi.json', headers: {}, query: {}, body: undefined, requestId: 'r1' };
    const first = await handle(request);
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toBe('application/json');
    expect(JSON.parse(first.body)).toEqual(JSON.parse(JSON.stringify(openApiDocument(routesOf(apiRouter())))));
    expect((await handle({ ...request, requestId: 'r2' })).body).toBe(first.body);
    expect(authenticate).not.toHaveBeenCalled();
  });
});
