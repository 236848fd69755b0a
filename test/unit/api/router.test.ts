import { describe, expect, it } from 'vitest';
import { createRouter, dispatch, toResponse } from '../../../lambdas/api/router.js';
import type { ApiDeps, RequestScope } from '../../../lambdas/api/context.js';
import { json } from '../../../lambdas/api/http.js';
import { logger } from '../../../lambdas/shared/logger.js';

const app = createRouter();
app.delete('/workspaces/:id/plugins/:name', (c) => toResponse(json(200, { route: 'delete', ...c.req.param() })));
app.get('/workspaces/:id/plugins/available', (c) => toResponse(json(200, { route: 'available', ...c.req.param() })));

const call = (method: string, path: string) => {
  const scope: RequestScope = {
    req: { method, path, headers: {}, query: {}, body: undefined, requestId: 'r' },
    deps: {} as ApiDeps,
    log: logger,
    principal: () => Promise.reject(new Error('routes here need no principal')),
  };
  return dispatch(app, scope);
};

describe('router', () => {
  it('matches a later route when an earlier one has the path but not the method', async () => {
    const res = await call('GET', '/workspaces/w1/plugins/available');
    expect(JSON.parse(res.body)).toEqual({ route: 'available', id: 'w1' });
  });

  it('decodes path parameters', async () => {
    const res = await call('DELETE', '/workspaces/w%201/plugins/a.b');
    expect(JSON.parse(res.body)).toEqual({ route: 'delete', id: 'w 1', name: 'a.b' });
  });

  it('keeps an encoded slash and an encoded dot-dot inside their segment', async () => {
    expect(JSON.parse((await call('DELETE', '/workspaces/%2e%2e/plugins/a%2Fb')).body)).toEqual({ route: 'delete', id: '..', name: 'a/b' });
    expect((await call('DELETE', '/workspaces/x/plugins/%2e%2e/available')).statusCode).toBe(404);
  });

  it('answers 405 for a known path with another method and 404 for an unknown path', async () => {
    expect((await call('PUT', '/workspaces/w/plugins/x')).statusCode).toBe(405);
    expect((await call('GET', '/nope')).statusCode).toBe(404);
    expect(JSON.parse((await call('TRACE', '/nope')).body)).toMatchObject({ code: 'not_found' });
  });

  it('names the methods a path does take in the 405 Allow header', async () => {
    const only = await call('PUT', '/workspaces/w/plugins/x');
    expect(only.statusCode).toBe(405);
    expect(only.headers.allow).toBe('DELETE');
    // `available` is also a plugin name the DELETE route takes.
    const both = await call('POST', '/workspaces/w/plugins/available');
    expect(both.headers.allow).toBe('DELETE, GET, HEAD');
    expect(JSON.parse(both.body)).toMatchObject({ code: 'method_not_allowed', allowed: ['DELETE', 'GET', 'HEAD'] });
  });

  it('answers HEAD with the GET route and no body, and takes one trailing slash', async () => {
    const head = await call('HEAD', '/workspaces/w1/plugins/available');
    expect(head).toMatchObject({ statusCode: 200, body: '' });
    expect(head.headers['content-type']).toBe('application/json');
    expect((await call('GET', '/workspaces/w1/plugins/available/')).statusCode).toBe(200);
  });
});
