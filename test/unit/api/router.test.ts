import { describe, expect, it } from 'vitest';
import { Router } from '../../../lambdas/api/router.js';
import { json, type ApiRequest } from '../../../lambdas/api/http.js';
import { AppError } from '../../../lambdas/shared/errors.js';
import { errorResponse } from '../../../lambdas/api/respond.js';
import { logger } from '../../../lambdas/shared/logger.js';

const req = (method: string, path: string): { req: ApiRequest } => ({
  req: { method, path, headers: {}, query: {}, body: undefined, requestId: 'r' },
});

describe('router', () => {
  const router = new Router<{ req: ApiRequest }>()
    .on('DELETE', '/workspaces/{id}/plugins/{name}', async (_c, p) => json(200, { route: 'delete', ...p }))
    .on('GET', '/workspaces/{id}/plugins/available', async (_c, p) => json(200, { route: 'available', ...p }));

  it('matches a later route when an earlier one has the path but not the method', async () => {
    const res = await router.dispatch(req('GET', '/workspaces/w1/plugins/available'));
    expect(JSON.parse(res.body)).toEqual({ route: 'available', id: 'w1' });
  });

  it('decodes path parameters', async () => {
    const res = await router.dispatch(req('DELETE', '/workspaces/w%201/plugins/a.b'));
    expect(JSON.parse(res.body)).toEqual({ route: 'delete', id: 'w 1', name: 'a.b' });
  });

  it('answers 405 for a known path with another method and 404 for an unknown path', async () => {
    await expect(router.dispatch(req('PUT', '/workspaces/w/plugins/x'))).rejects.toSatisfy((e) => e instanceof AppError && e.status === 405);
    await expect(router.dispatch(req('GET', '/nope'))).rejects.toSatisfy((e) => e instanceof AppError && e.status === 404);
  });

  it('names the methods a path does take in the 405 Allow header', async () => {
    const only = errorResponse(await router.dispatch(req('PUT', '/workspaces/w/plugins/x')).catch((e: unknown) => e), logger);
    expect(only.statusCode).toBe(405);
    expect(only.headers?.allow).toBe('DELETE');
    // `available` is also a plugin name the DELETE route takes.
    const both = errorResponse(await router.dispatch(req('POST', '/workspaces/w/plugins/available')).catch((e: unknown) => e), logger);
    expect(both.headers?.allow).toBe('DELETE, GET, HEAD');
    expect(JSON.parse(both.body)).toMatchObject({ code: 'method_not_allowed', allowed: ['DELETE', 'GET', 'HEAD'] });
  });
});
