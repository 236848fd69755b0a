import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { acquireLease } from '../../../lambdas/store/leases.js';
import { createOperation, finishOperation, getOperation, stepEnded, stepStarted } from '../../../lambdas/store/operations.js';
import { getInstalled, upsertInstalled } from '../../../lambdas/store/installed.js';
import { failStaleOperation, listStaleOperations, recordHostState } from '../../../lambdas/store/reconcile.js';
import type { ErrorRecord } from '../../../lambdas/shared/errors.js';
import type { OperationKind } from '../../../lambdas/shared/types.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await upsertWorkspace(t.db, 'ws-rc', { orgId: 'org-rc', runtime: 'claude-code' });
});
afterAll(async () => {
  await t?.close();
});

const LOST: ErrorRecord = { code: 'delivery_failed', message: 'the workflow execution ended without finishing the operation', httpStatus: 502 };

async function operation(id: string, opts: { kind?: OperationKind; plugin?: string | null; workspaceId?: string; ageMinutes?: number } = {}) {
  const workspaceId = opts.workspaceId ?? 'ws-rc';
  await createOperation(t.db, {
    id,
    workspaceId,
    orgId: 'org-rc',
    kind: opts.kind ?? 'install',
    plugin: opts.plugin ?? null,
    source: opts.kind === 'uninstall' ? null : 'local://demo',
    sha256: null,
    idempotencyKey: null,
    requestHash: null,
    actorPrefix: 'test',
    executionArn: `arn:aws:states:us-east-1:0:execution:m:${id}`,
  });
  if (opts.ageMinutes) {
    await t.db.query('UPDATE plugin_operations SET created_at = now() - make_interval(mins => $2) WHERE id = $1', [id, opts.ageMinutes]);
  }
  return id;
}

describe('listing operations a lost execution left RUNNING', () => {
  it('lists only RUNNING operations older than the age, oldest first, with what the reconciler needs', async () => {
    await upsertWorkspace(t.db, 'ws-list', { orgId: 'org-rc', runtime: 'claude-code' });
    await operation('list-young', { workspaceId: 'ws-list', ageMinutes: 5 });
    await operation('list-old', { workspaceId: 'ws-list', ageMinutes: 120 });
    await operation('list-older', { workspaceId: 'ws-list', kind: 'uninstall', plugin: 'gone', ageMinutes: 180 });
    await operation('list-done', { workspaceId: 'ws-list', ageMinutes: 240 });
    await finishOperation(t.db, 'list-done', 'SUCCEEDED');

    const page = await listStaleOperations(t.db, { olderThanMs: 60 * 60_000, limit: 50 });
    expect(page.nextCursor).toBeNull();
    const mine = page.operations.filter((o) => o.workspaceId === 'ws-list');
    expect(mine.map((o) => o.operationId)).toEqual(['list-older', 'list-old']);
    expect(mine[0]).toMatchObject({
      operationId: 'list-older',
      status: 'RUNNING',
      workspaceId: 'ws-list',
      kind: 'uninstall',
      plugin: 'gone',
      source: null,
      executionArn: 'arn:aws:states:us-east-1:0:execution:m:list-older',
    });
    expect(mine[1]).toMatchObject({ kind: 'install', source: 'local://demo' });
  });

  it('pages through operations created in the same instant, each once, even while they are closed between pages', async () => {
    await upsertWorkspace(t.db, 'ws-page', { orgId: 'org-rc', runtime: 'claude-code' });
    const ids = ['page-1', 'page-2', 'page-3', 'page-4', 'page-5'];
    for (const id of ids) await operation(id, { workspaceId: 'ws-page' });
    await t.db.query("UPDATE plugin_operations SET created_at = '2001-02-03T04:05:06.789123Z' WHERE workspace_id = 'ws-page'");

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await listStaleOperations(t.db, { olderThanMs: 0, limit: 2, cursor });
      expect(page.operations.length).toBeLessThanOrEqual(2);
      for (const op of page.operations) {
        seen.push(op.operationId);
        await failStaleOperation(t.db, op.operationId, LOST);
      }
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    // The oldest come first, then the other tests' RUNNING operations, each listed once.
    expect(seen.slice(0, ids.length)).toEqual(ids);
    expect(new Set(seen).size).toBe(seen.length);
    expect(cursor).toBeNull();
  });

  it('refuses a cursor it did not make as invalid_request', async () => {
    await expect(listStaleOperations(t.db, { olderThanMs: 0, limit: 5, cursor: 'bm9wZQ' })).rejects.toMatchObject({ code: 'invalid_request' });
    const forged = Buffer.from(JSON.stringify(['yesterday', 'x'])).toString('base64url');
    await expect(listStaleOperations(t.db, { olderThanMs: 0, limit: 5, cursor: forged })).rejects.toMatchObject({ code: 'invalid_request' });
  });
});

describe('closing an operation whose execution ended', () => {
  it('fails it with the documented error, ends its running step and frees its workspace, once', async () => {
    await upsertWorkspace(t.db, 'ws-close', { orgId: 'org-rc', runtime: 'claude-code' });
    const id = await operation('close-me', { workspaceId: 'ws-close' });
    await stepStarted(t.db, id, 'Stage');
    await stepEnded(t.db, id, 'Stage', 'SUCCEEDED');
    await stepStarted(t.db, id, 'Deliver');
    expect(await acquireLease(t.db, 'ws-close', id, 3_600_000)).toBe(true);

    expect(await failStaleOperation(t.db, id, LOST)).toBe(true);
    const op = await getOperation(t.db, id);
    expect(op).toMatchObject({ status: 'FAILED', error: LOST });
    expect(op?.steps.map((s) => [s.name, s.status])).toEqual([
      ['Stage', 'SUCCEEDED'],
      ['Deliver', 'FAILED'],
    ]);
    expect(op?.steps[1]?.endedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const leases = await t.db.query("SELECT 1 FROM workspace_leases WHERE workspace_id = 'ws-close'");
    expect(leases.rowCount).toBe(0);

    const other: ErrorRecord = { code: 'workspace_unreachable', message: 'later', httpStatus: 503 };
    expect(await failStaleOperation(t.db, id, other)).toBe(false);
    expect((await getOperation(t.db, id))?.error).toEqual(LOST);
  });

  it('leaves an operation that finished meanwhile, and a lease someone else holds, as they are', async () => {
    await upsertWorkspace(t.db, 'ws-late', { orgId: 'org-rc', runtime: 'claude-code' });
    const finished = await operation('late-finished', { workspaceId: 'ws-late' });
    await stepStarted(t.db, finished, 'Record');
    await finishOperation(t.db, finished, 'SUCCEEDED');
    const next = await operation('late-next', { workspaceId: 'ws-late' });
    expect(await acquireLease(t.db, 'ws-late', next, 60_000)).toBe(true);

    expect(await failStaleOperation(t.db, finished, LOST)).toBe(false);
    expect(await getOperation(t.db, finished)).toMatchObject({ status: 'SUCCEEDED', steps: [expect.objectContaining({ status: 'SUCCEEDED' })] });
    expect((await getOperation(t.db, finished))?.error).toBeUndefined();
    const held = await t.db.query("SELECT holder FROM workspace_leases WHERE workspace_id = 'ws-late'");
    expect(held.rows).toEqual([{ holder: next }]);
    expect(await failStaleOperation(t.db, 'no-such-operation', LOST)).toBe(false);
  });

  it('marks a closed uninstall for the cleanup to retry, as a failed uninstall is', async () => {
    await upsertWorkspace(t.db, 'ws-un', { orgId: 'org-rc', runtime: 'claude-code' });
    await upsertInstalled(t.db, {
      workspaceId: 'ws-un',
      name: 'sticky',
      version: '1',
      source: 'local://sticky',
      sha256: 'a'.repeat(64),
      skills: [],
      runtimes: [],
      uninstallAt: null,
    });
    await upsertInstalled(t.db, {
      workspaceId: 'ws-un',
      name: 'bystander',
      version: '1',
      source: 'local://bystander',
      sha256: 'a'.repeat(64),
      skills: [],
      runtimes: [],
      uninstallAt: null,
    });
    const id = await operation('close-uninstall', { workspaceId: 'ws-un', kind: 'uninstall', plugin: 'sticky' });
    expect(await failStaleOperation(t.db, id, LOST)).toBe(true);
    const rows = await t.db.query<{ plugin_name: string; uninstall_attempts: number; failed: boolean }>(
      "SELECT plugin_name, uninstall_attempts, uninstall_failed_at IS NOT NULL AS failed FROM workspace_plugins WHERE workspace_id = 'ws-un' ORDER BY plugin_name",
    );
    expect(rows.rows).toEqual([
      { plugin_name: 'bystander', uninstall_attempts: 0, failed: false },
      { plugin_name: 'sticky', uninstall_attempts: 1, failed: true },
    ]);
  });
});

describe("recording the host's real state", () => {
  const later = '2099-01-01T00:00:00.000Z';
  const host = { version: '2.0.0', sha256: 'b'.repeat(64), source: 'github://acme/lint#v2' };

  it('forgets a plugin the host does not have, and says when there was nothing to forget', async () => {
    await upsertInstalled(t.db, {
      workspaceId: 'ws-rc',
      name: 'removed',
      version: '1',
      source: 'local://removed',
      sha256: 'a'.repeat(64),
      skills: [],
      runtimes: [],
      uninstallAt: null,
    });
    expect(await recordHostState(t.db, 'ws-rc', 'removed', null)).toBe('forgotten');
    expect(await getInstalled(t.db, 'ws-rc', 'removed')).toBeNull();
    expect(await recordHostState(t.db, 'ws-rc', 'removed', null)).toBe('absent');
  });

  it("records the version the host has, keeping the row's schedule and install time", async () => {
    await upsertInstalled(t.db, {
      workspaceId: 'ws-rc',
      name: 'lint',
      version: '1.0.0',
      source: 'github://acme/lint#v1',
      sha256: 'a'.repeat(64),
      skills: ['fmt'],
      runtimes: ['claude-code'],
      uninstallAt: later,
    });
    const before = await getInstalled(t.db, 'ws-rc', 'lint');
    expect(await recordHostState(t.db, 'ws-rc', 'lint', host)).toBe('recorded');
    const after = await getInstalled(t.db, 'ws-rc', 'lint');
    expect(after).toMatchObject({
      version: '2.0.0',
      sha256: 'b'.repeat(64),
      source: 'github://acme/lint#v2',
      skills: ['fmt'],
      runtimes: ['claude-code'],
      uninstallAt: later,
    });
    expect(after?.installedAt).toBe(before?.installedAt);

    expect(await recordHostState(t.db, 'ws-rc', 'lint', host)).toBe('unchanged');
    expect((await getInstalled(t.db, 'ws-rc', 'lint'))?.updatedAt).toBe(after?.updatedAt);
    expect(await recordHostState(t.db, 'ws-rc', 'lint', { ...host, skills: ['fmt', 'review'] })).toBe('recorded');
    expect((await getInstalled(t.db, 'ws-rc', 'lint'))?.skills).toEqual(['fmt', 'review']);
  });

  it('records a plugin the host has that the database never knew', async () => {
    expect(await recordHostState(t.db, 'ws-rc', 'fresh', { ...host, version: null })).toBe('recorded');
    expect(await getInstalled(t.db, 'ws-rc', 'fresh')).toMatchObject({
      name: 'fresh',
      version: null,
      sha256: 'b'.repeat(64),
      source: 'github://acme/lint#v2',
      skills: [],
      runtimes: [],
      uninstallAt: null,
    });
  });
});
