import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { createOperation, setStaged } from '../../../lambdas/store/operations.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import {
  activeRevision,
  addRevision,
  expiredTarballs,
  listRevisions,
  markRevisionRemoved,
  markTarballsDeleted,
  reactivateRevision,
} from '../../../lambdas/store/revisions.js';

/** SPEC §9 revisions in PostgreSQL: numbering, one active, kept tarballs, and what the cleanup may delete. */
let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  for (const id of ['ws-1', 'ws-2'])
    await upsertWorkspace(t.db, id, { orgId: 'org-r', runtime: 'claude-code', instanceId: null, transport: 'auto', status: 'online' });
});
afterAll(async () => {
  await t?.close();
});

const sha = (c: string) => c.repeat(64);

/** An install operation that staged `files`, then its delivery recorded as a revision. */
async function deliver(workspaceId: string, plugin: string, sha256: string, opts: { status?: 'active' | 'rolled_back'; keep?: number } = {}) {
  const id = randomUUID();
  await createOperation(t.db, {
    id,
    workspaceId,
    orgId: 'org-r',
    kind: 'install',
    plugin,
    source: `local://${plugin}`,
    sha256: null,
    idempotencyKey: null,
    requestHash: null,
    actorPrefix: 'test',
    executionArn: null,
  });
  const files = [{ path: 'plugin.yaml', sha256, size: 10 }];
  await setStaged(t.db, id, { plugin, sha256, warnings: [], files });
  const revision = await addRevision(t.db, {
    workspaceId,
    plugin,
    operationId: id,
    version: '1.0.0',
    source: `local://${plugin}`,
    sha256,
    skills: [],
    runtimes: [],
    status: opts.status ?? 'active',
    keep: opts.keep ?? 5,
  });
  return { id, revision };
}

describe('plugin revisions', () => {
  it('numbers deliveries per workspace and plugin, keeps one active, records the staged files, and records an operation once', async () => {
    const first = await deliver('ws-1', 'p', sha('1'));
    const second = await deliver('ws-1', 'p', sha('2'));
    const other = await deliver('ws-2', 'p', sha('1'));
    expect([first.revision.revision, second.revision.revision, other.revision.revision]).toEqual([1, 2, 1]);
    expect(second.revision.files).toEqual([{ path: 'plugin.yaml', sha256: sha('2'), size: 10 }]);
    expect((await listRevisions(t.db, 'ws-1', 'p')).map((r) => [r.revision, r.status])).toEqual([
      [2, 'active'],
      [1, 'superseded'],
    ]);
    // Record retried: the same revision, nothing added.
    const again = await addRevision(t.db, { ...second.revision, operationId: second.id, status: 'active', keep: 5 });
    expect(again.revision).toBe(2);
    expect(await listRevisions(t.db, 'ws-1', 'p')).toHaveLength(2);
  });

  it('records an undone delivery rolled_back and leaves the active one active', async () => {
    await deliver('ws-1', 'p', sha('3'), { status: 'rolled_back' });
    expect((await listRevisions(t.db, 'ws-1', 'p')).map((r) => [r.revision, r.status])).toEqual([
      [3, 'rolled_back'],
      [2, 'active'],
      [1, 'superseded'],
    ]);
  });

  it('makes a rolled-back-to revision active again and the one it replaced rolled_back; removed on uninstall', async () => {
    await reactivateRevision(t.db, 'ws-1', 'p', 1, randomUUID());
    expect((await activeRevision(t.db, 'ws-1', 'p'))?.revision).toBe(1);
    expect((await listRevisions(t.db, 'ws-1', 'p')).find((r) => r.revision === 2)?.status).toBe('rolled_back');
    await markRevisionRemoved(t.db, 'ws-1', 'p');
    expect(await activeRevision(t.db, 'ws-1', 'p')).toBeNull();
  });

  it('keeps the tarballs of the newest N revisions, and offers for deletion only a hash no kept revision of any workspace names', async () => {
    for (const c of ['a', 'b', 'c']) await deliver('ws-1', 'q', sha(c), { keep: 2 });
    expect((await listRevisions(t.db, 'ws-1', 'q')).map((r) => [r.revision, r.tarballKept])).toEqual([
      [3, true],
      [2, true],
      [1, false],
    ]);
    expect(await expiredTarballs(t.db, 10)).toContain(sha('a'));
    // Another workspace keeps the same bytes: that tarball stays.
    await deliver('ws-2', 'q', sha('a'));
    expect(await expiredTarballs(t.db, 10)).not.toContain(sha('a'));
    await deliver('ws-1', 'q', sha('d'), { keep: 2 });
    expect(await expiredTarballs(t.db, 10)).toContain(sha('b'));
    await markTarballsDeleted(t.db, [sha('b')]);
    expect(await expiredTarballs(t.db, 10)).not.toContain(sha('b'));
    expect(await expiredTarballs(t.db, 10)).toEqual([]);
    await deliver('ws-1', 'q', sha('e'), { keep: 1 });
    expect((await expiredTarballs(t.db, 10)).sort()).toEqual([sha('c'), sha('d')]);
    expect(await expiredTarballs(t.db, 1)).toHaveLength(1);
  });
});
