import { request } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { useSharedLocalStack } from '../support/local-stack.js';

/** SPEC §4 auth and admin routes, against `npm start`'s process over real HTTP. */
// The run's shared stack: with DATABASE_URL set it has a fresh database on that server; unset, it embeds one.
const stack = useSharedLocalStack();
let orgA = '';
let orgB = '';
let wsToken = '';

beforeAll(async () => {
  const admin = stack.adminToken;
  expect(
    (await stack.call('PUT', '/admin/workspaces/a-1', { token: admin, body: { orgId: 'org-a', runtime: 'claude-code', instanceId: 'i-0aaaaaaaaaaaaaaa1' } }))
      .status,
  ).toBe(201);
  expect((await stack.call('PUT', '/admin/workspaces/b-1', { token: admin, body: { orgId: 'org-b', runtime: 'hermes' } })).status).toBe(201);
  orgA = (await stack.call('POST', '/admin/orgs/org-a/tokens', { token: admin })).body.token;
  orgB = (await stack.call('POST', '/admin/orgs/org-b/tokens', { token: admin })).body.token;
  wsToken = (await stack.call('POST', '/admin/workspaces/a-1/tokens', { token: admin })).body.token;
});

describe('the local stack', () => {
  it('answers /health without a token', async () => {
    const res = await stack.call('GET', '/health');
    expect(res).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('prints ready-to-paste demo commands whose token works', async () => {
    const printed = /Bearer (mpd_o_[\w-]+)/.exec(stack.output())?.[1];
    expect(printed).toBeTruthy();
    const res = await stack.call('GET', '/workspaces/ws-demo/plugins', { token: printed });
    expect(res.status).toBe(200);
    expect(stack.output()).toContain('local://code-review-rules');
  });
});

describe('admin routes', () => {
  it('upserts a workspace: 201 on create, 200 on update', async () => {
    const res = await stack.call('PUT', '/admin/workspaces/a-1', {
      token: stack.adminToken,
      body: { orgId: 'org-a', runtime: 'claude-code', instanceId: 'i-0aaaaaaaaaaaaaaa1', transport: 'ssm' },
    });
    expect(res).toMatchObject({ status: 200, body: { id: 'a-1', orgId: 'org-a', transport: 'ssm' } });
  });

  it('refuses to move a workspace to another org, which would hand it its history', async () => {
    const res = await stack.call('PUT', '/admin/workspaces/a-1', { token: stack.adminToken, body: { orgId: 'org-b', runtime: 'claude-code' } });
    expect(res).toMatchObject({ status: 409, body: { code: 'conflict', orgId: 'org-a' } });
    expect((await stack.call('GET', '/workspaces/a-1/plugins', { token: orgB })).status).toBe(404);
    expect((await stack.call('GET', '/workspaces/a-1/plugins', { token: orgA })).status).toBe(200);
  });

  it('mints tokens whose prefix is shown and whose secret is not stored', async () => {
    const res = await stack.call('POST', '/admin/workspaces/a-1/tokens', { token: stack.adminToken });
    expect(res.status).toBe(201);
    expect(res.body.token.startsWith(res.body.prefix)).toBe(true);
  });

  it('revokes a token by its prefix: it stops working at once', async () => {
    const minted = (await stack.call('POST', '/admin/orgs/org-b/tokens', { token: stack.adminToken })).body;
    expect((await stack.call('GET', '/workspaces/b-1/plugins', { token: minted.token })).status).toBe(200);
    const res = await stack.call('DELETE', `/admin/tokens/${minted.prefix}`, { token: stack.adminToken });
    expect(res).toMatchObject({ status: 200, body: { revoked: 1 } });
    expect((await stack.call('GET', '/workspaces/b-1/plugins', { token: minted.token })).status).toBe(401);
    expect((await stack.call('DELETE', `/admin/tokens/${minted.prefix}`, { token: stack.adminToken })).status).toBe(404);
  });

  it('refuses to mint a token for an unknown org or workspace', async () => {
    expect((await stack.call('POST', '/admin/orgs/nobody/tokens', { token: stack.adminToken })).status).toBe(404);
    expect((await stack.call('POST', '/admin/workspaces/ghost/tokens', { token: stack.adminToken })).body.code).toBe('workspace_not_found');
  });

  it('keeps admin routes from org tokens', async () => {
    const res = await stack.call('PUT', '/admin/workspaces/a-2', { token: orgA, body: { orgId: 'org-a', runtime: 'claude-code' } });
    expect(res).toMatchObject({ status: 403, body: { code: 'forbidden' } });
  });
});

describe('authentication and tenancy', () => {
  it('answers 401 unauthorized to a missing or wrong token', async () => {
    for (const token of [undefined, 'wrong', `${orgA}x`]) {
      const res = await stack.call('GET', '/workspaces/a-1/plugins', { token });
      expect(res).toMatchObject({ status: 401, body: { code: 'unauthorized' } });
    }
  });

  it("answers 404 to an org token asking for another org's workspace", async () => {
    for (const [method, path] of [
      ['GET', '/workspaces/b-1/plugins'],
      ['POST', '/workspaces/b-1/plugins'],
      ['DELETE', '/workspaces/b-1/plugins/x'],
    ] as const) {
      const res = await stack.call(method, path, { token: orgA, ...(method === 'POST' ? { body: { source: 'local://hello-skill' } } : {}) });
      expect(res).toMatchObject({ status: 404, body: { code: 'workspace_not_found' } });
    }
    expect((await stack.call('GET', '/workspaces/b-1/plugins', { token: orgB })).status).toBe(200);
  });

  it("keeps an org's allowlist to its own org token", async () => {
    expect((await stack.call('GET', '/orgs/org-b/plugins/allowlist', { token: orgA })).status).toBe(404);
    expect((await stack.call('GET', '/orgs/org-a/plugins/allowlist', { token: orgA })).body).toMatchObject({ org_id: 'org-a', allow_all: true });
  });

  it('lets a workspace token read its own plugins but not install', async () => {
    expect((await stack.call('GET', '/workspaces/a-1/plugins', { token: wsToken })).status).toBe(200);
    const res = await stack.call('POST', '/workspaces/a-1/plugins', { token: wsToken, body: { source: 'hello-skill' } });
    expect(res).toMatchObject({ status: 403, body: { code: 'forbidden' } });
  });
});

describe('bad input', () => {
  it('answers 400 invalid_request to a garbage body, never 500', async () => {
    for (const rawBody of ['{not json', '[]', '"source"', '', 'null']) {
      const res = await stack.call('POST', '/workspaces/a-1/plugins', { token: orgA, rawBody, headers: { 'content-type': 'application/json' } });
      expect(res.status, rawBody).toBe(400);
      expect(res.body.code).toBe('invalid_request');
    }
  });

  it('answers 400 invalid_request to a body over 64 KiB', async () => {
    const res = await stack.call('POST', '/workspaces/a-1/plugins', { token: orgA, body: { source: 'hello-skill', pad: 'x'.repeat(70_000) } });
    expect(res).toMatchObject({ status: 400, body: { code: 'invalid_request' } });
  });

  it('answers 404 to unknown routes and 405 to a wrong method', async () => {
    expect((await stack.call('GET', '/nope', { token: orgA })).status).toBe(404);
    expect((await stack.call('PATCH', '/workspaces/a-1/plugins', { token: orgA })).status).toBe(405);
  });

  it('takes an encoded dot-dot segment as a name, as API Gateway does, not as a way up the path', async () => {
    expect((await rawRequest('/workspaces/%2e%2e/plugins')).status).toBe(404);
  });

  it('answers 400 invalid_request, not 500, to a request target that is no URL path', async () => {
    for (const target of ['//[', 'http://[', 'http://x/workspaces']) {
      const res = await rawRequest(target);
      expect(res.status, target).toBe(400);
      expect(JSON.parse(res.body), target).toMatchObject({ code: 'invalid_request' });
      expect(res.headers['x-content-type-options'], target).toBe('nosniff');
    }
  });
});

describe('response headers', () => {
  it('marks every JSON answer nosniff, since answers echo what the request said', async () => {
    const answers = [
      await stack.call('GET', '/health'),
      await stack.call('GET', '/workspaces/a-1/plugins', { token: orgA }),
      await stack.call('GET', '/nope<script>', { token: orgA }),
      await stack.call('POST', '/workspaces/a-1/plugins', { token: orgA, body: { source: 'ftp://<b>x</b>' } }),
      await stack.call('GET', '/workspaces/a-1/plugins'),
    ];
    for (const res of answers) {
      expect(res.headers.get('content-type')).toContain('application/json');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });
});

/** A request whose target goes out exactly as written: fetch() would normalize or refuse it. */
function rawRequest(path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(stack.url);
    request({ hostname, port, path, headers: { authorization: `Bearer ${orgA}` } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });
}
