import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi } from '../../support/api.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { fromApiGatewayEvent, toApiGatewayResult } from '../../../lambdas/api/apigw.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { mintToken } from '../../../lambdas/store/tokens.js';
import { createOperation, finishOperation } from '../../../lambdas/store/operations.js';
import { query } from '../../../lambdas/store/db.js';
import { startLocalApiServer, type LocalApiServer } from '../../../local/api-server.js';

/**
 * The ops view over real HTTP (the local API server in front of the API handler, a real
 * database): GET /operations filters and pages with a cursor, and GET /operations/{id} needs no
 * workspace. Admin only.
 */
let t: TestDatabase;
let server: LocalApiServer;
let orgToken = '';
const ADMIN = 'admin-ops';

interface Seeded {
  id: string;
  workspaceId: string;
  orgId: string;
  kind: 'install' | 'uninstall';
  plugin: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
}
const seeded: Seeded[] = [];

async function seed(op: Omit<Seeded, 'id'>): Promise<Seeded> {
  const id = randomUUID();
  await createOperation(t.db, {
    id,
    workspaceId: op.workspaceId,
    orgId: op.orgId,
    kind: op.kind,
    plugin: op.plugin,
    source: `local://${op.plugin}`,
    sha256: null,
    idempotencyKey: null,
    requestHash: null,
    actorPrefix: 'test',
    executionArn: `arn:aws:states:us-east-1:123456789012:execution:m:${op.kind}-${op.workspaceId}-${op.plugin}-${id.slice(0, 8)}`,
    executionName: `${op.kind}-${op.workspaceId}-${op.plugin}-${id.slice(0, 8)}`,
  });
  if (op.status !== 'RUNNING') {
    await finishOperation(t.db, id, op.status, op.status === 'FAILED' ? { code: 'workspace_unreachable', message: 'stopped', httpStatus: 503 } : undefined);
  }
  const row = { ...op, id };
  seeded.push(row);
  return row;
}

async function get(path: string, token = ADMIN): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** Every page from `path` on, following the Link header, as the ids in order. */
async function allPages(path: string): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let next: string | null = path;
  let pages = 0;
  while (next) {
    const page = await get(next);
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    expect(Array.isArray(page.body)).toBe(true);
    ids.push(...page.body.map((o: { operationId: string }) => o.operationId));
    pages++;
    const link = page.headers.get('link');
    const cursor = page.headers.get('x-next-cursor');
    if (link) {
      expect(link).toMatch(/^<\/operations\?.*cursor=.*>; rel="next"$/);
      expect(link).toContain(`cursor=${cursor}`);
    } else expect(cursor).toBeNull();
    next = link ? /^<([^>]+)>/.exec(link)![1]! : null;
    if (pages > 50) throw new Error('paging does not end');
  }
  return { ids, pages };
}

/** Newest first, as the store orders them (created_at, then id). */
async function expectedOrder(where: (o: Seeded) => boolean): Promise<string[]> {
  const rows = await query<{ id: string }>(t.db, 'SELECT id FROM plugin_operations ORDER BY created_at DESC, id DESC');
  const wanted = new Set(seeded.filter(where).map((o) => o.id));
  return rows.map((r) => r.id).filter((id) => wanted.has(id));
}

beforeAll(async () => {
  t = await createTestDatabase();
  const api = createTestApi(t.db, { adminToken: ADMIN });
  server = await startLocalApiServer({
    handler: async (event) => toApiGatewayResult(await api(fromApiGatewayEvent(event))),
    port: 0,
    maxBodyBytes: 65_536,
  });
  for (const [ws, org] of [
    ['ws-a1', 'org-a'],
    ['ws-a2', 'org-a'],
    ['ws-b1', 'org-b'],
  ] as const) {
    await upsertWorkspace(t.db, ws, { orgId: org, runtime: 'claude-code', instanceId: 'i-0123456789abcdef0' });
  }
  orgToken = (await mintToken(t.db, 'org', { orgId: 'org-a' })).token;
  const plugins = ['hello-skill', 'code-review-rules', 'safe-shell-hook'];
  const statuses = ['SUCCEEDED', 'FAILED', 'RUNNING'] as const;
  const workspaces = [
    ['ws-a1', 'org-a'],
    ['ws-a2', 'org-a'],
    ['ws-b1', 'org-b'],
  ] as const;
  for (let i = 0; i < 23; i++) {
    const [workspaceId, orgId] = workspaces[i % 3]!;
    await seed({ workspaceId, orgId, kind: i % 4 === 0 ? 'uninstall' : 'install', plugin: plugins[(i % 5) % 3]!, status: statuses[(i % 7) % 3]! });
  }
  // Several operations created in the same microsecond: the page boundary falls among them.
  const tied = seeded.slice(5, 12).map((o) => o.id);
  await query(t.db, `UPDATE plugin_operations SET created_at = '2026-11-30T12:00:00.123456Z' WHERE id = ANY($1)`, [tied]);
}, 120_000);
afterAll(async () => {
  await server?.close();
  await t?.close();
});

describe('GET /operations', () => {
  it('pages through every operation newest first, without repeating or skipping one', async () => {
    const { ids, pages } = await allPages('/operations?limit=4');
    expect(ids).toEqual(await expectedOrder(() => true));
    expect(new Set(ids).size).toBe(23);
    expect(pages).toBe(6);
  });

  it('filters by status, workspace, org, plugin, kind and since, across pages', async () => {
    const cases: Array<[string, (o: Seeded) => boolean]> = [
      ['status=FAILED', (o) => o.status === 'FAILED'],
      ['workspaceId=ws-a2', (o) => o.workspaceId === 'ws-a2'],
      ['orgId=org-a&kind=install', (o) => o.orgId === 'org-a' && o.kind === 'install'],
      ['plugin=hello-skill&status=SUCCEEDED', (o) => o.plugin === 'hello-skill' && o.status === 'SUCCEEDED'],
      ['kind=uninstall', (o) => o.kind === 'uninstall'],
      ['orgId=org-b&status=RUNNING', (o) => o.orgId === 'org-b' && o.status === 'RUNNING'],
    ];
    for (const [filter, where] of cases) {
      const expected = await expectedOrder(where);
      expect(expected.length, filter).toBeGreaterThan(0);
      const { ids } = await allPages(`/operations?${filter}&limit=2`);
      expect(ids, filter).toEqual(expected);
    }
    const future = await get('/operations?since=2999-01-01T00:00:00Z');
    expect(future.body).toEqual([]);
    const { ids: sinceTied } = await allPages('/operations?since=2026-11-30T12:00:00.123456Z&limit=3');
    expect(sinceTied).toEqual(await expectedOrder(() => true));
  });

  it('keeps paging from where it was while new operations arrive', async () => {
    const first = await get('/operations?limit=5');
    const seen: string[] = first.body.map((o: { operationId: string }) => o.operationId);
    const fresh = await seed({ workspaceId: 'ws-a1', orgId: 'org-a', kind: 'install', plugin: 'hello-skill', status: 'RUNNING' });
    const rest = await allPages(/^<([^>]+)>/.exec(first.headers.get('link')!)![1]!);
    expect(rest.ids).not.toContain(fresh.id);
    expect([...seen, ...rest.ids]).toEqual((await expectedOrder(() => true)).filter((id) => id !== fresh.id));
  });

  it('answers with operations explained: org, execution name, console link and steps', async () => {
    const [newest] = (await get('/operations?limit=1')).body;
    expect(newest).toMatchObject({
      orgId: expect.any(String),
      executionName: expect.stringMatching(/^(install|uninstall)-ws-/),
      consoleUrl: expect.stringMatching(
        /^https:\/\/us-east-1\.console\.aws\.amazon\.com\/states\/home\?region=us-east-1#\/v2\/executions\/details\/arn:aws:states:/,
      ),
      steps: [],
    });
  });

  it('refuses bad filter values with 400 invalid_request naming the field', async () => {
    const bogusCursor = Buffer.from(JSON.stringify(['yesterday', 'x'])).toString('base64url');
    for (const [query, field] of [
      ['cursor=not%20a%20cursor', 'cursor'],
      ['cursor=Zm9v', 'cursor'],
      [`cursor=${bogusCursor}`, 'cursor'],
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=ten', 'limit'],
      ['status=BROKEN', 'status'],
      ['kind=upgrade', 'kind'],
      ['since=yesterday', 'since'],
      ['plugin=..%2Fetc', 'plugin'],
      ['workspaceId=%20bad', 'workspaceId'],
      ['orgId=-x', 'orgId'],
    ] as const) {
      const res = await get(`/operations?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.code, query).toBe('invalid_request');
      expect(res.body.error, query).toContain(field);
    }
  });

  it('is for admins only', async () => {
    expect((await get('/operations', orgToken)).status).toBe(403);
    expect((await get('/operations', 'nope')).status).toBe(401);
  });
});

describe('GET /operations/{operationId}', () => {
  it('gives an admin the same operation as the workspace route, without knowing the workspace', async () => {
    const op = seeded.find((o) => o.status === 'FAILED')!;
    const byId = await get(`/operations/${op.id}`);
    expect(byId.status).toBe(200);
    expect(byId.body).toMatchObject({ operationId: op.id, workspaceId: op.workspaceId, status: 'FAILED', error: { code: 'workspace_unreachable' } });
    const viaWorkspace = await get(`/workspaces/${op.workspaceId}/plugins/operations/${op.id}`);
    expect(viaWorkspace.body).toEqual(byId.body);
  });

  it('is 404 operation_not_found for an unknown or malformed id, and 403 for an org token', async () => {
    expect((await get(`/operations/${randomUUID()}`)).body.code).toBe('operation_not_found');
    expect((await get('/operations/not-an-id')).status).toBe(404);
    expect((await get(`/operations/${seeded[0]!.id}`, orgToken)).status).toBe(403);
  });
});
