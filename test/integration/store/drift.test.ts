import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { createOperation, finishOperation, getOperation, setRepair, setVerification } from '../../../lambdas/store/operations.js';
import { claimDriftSweep, countDriftedWorkspaces, markRepaired, markVerified, upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { activeRevisionsOn, addRevision, expiredTarballs, listRevisions } from '../../../lambdas/store/revisions.js';

/** SPEC §12 in PostgreSQL: what a verify and a repair keep, the sweep's order, and adopted revisions. */
let t: TestDatabase;
const ws = (id: string, over: Record<string, unknown> = {}) =>
  upsertWorkspace(t.db, id, { orgId: 'org-d', runtime: 'claude-code', instanceId: 'i-0d00000000000000a', transport: 'auto', status: 'online', ...over });

async function operation(workspaceId: string, kind: 'verify' | 'repair' = 'verify') {
  const id = randomUUID();
  await createOperation(t.db, {
    id,
    workspaceId,
    orgId: 'org-d',
    kind,
    plugin: null,
    source: null,
    sha256: null,
    idempotencyKey: null,
    requestHash: null,
    actorPrefix: 'test',
    executionArn: null,
  });
  return id;
}

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});

describe('drift in the store', () => {
  it('keeps a verify’s result and a repair’s on the operation', async () => {
    await ws('d-1');
    const id = await operation('d-1');
    const verification = {
      status: 'verified' as const,
      operationId: id,
      drift: true,
      plugins: [{ name: 'x', state: 'missing' as const }],
      debris: ['.staging/x.1'],
    };
    await setVerification(t.db, id, verification);
    const repairId = await operation('d-1', 'repair');
    const repair = { status: 'repaired' as const, operationId: repairId, mode: 'clean' as const, plugins: [], debris: ['.staging/x.1'], restarted: false };
    await setRepair(t.db, repairId, repair);

    expect((await getOperation(t.db, id))?.verify).toEqual(verification);
    expect((await getOperation(t.db, repairId))?.repair).toEqual(repair);
  });

  it('sweeps never-verified workspaces first, then the least recently verified, leaving out recent, running, removed, external and hostless ones', async () => {
    for (const id of ['s-new', 's-old', 's-older', 's-recent', 's-running']) await ws(id);
    await ws('s-removed', { status: 'removed' });
    await ws('s-external', { runtime: 'external', instanceId: null });
    await ws('s-hostless', { instanceId: null });
    await t.db.query(`UPDATE workspaces SET last_verified_at = now() - interval '1 day' WHERE id IN ('s-old', 's-running')`);
    await t.db.query(`UPDATE workspaces SET last_verified_at = now() - interval '2 days' WHERE id = 's-older'`);
    await markVerified(t.db, 's-recent', false);
    await operation('s-running');

    const swept = (await claimDriftSweep(t.db, 100, new Date(Date.now() - 3_600_000))).filter((id) => id.startsWith('s-'));

    expect(swept).toEqual(['s-new', 's-older', 's-old']);
    // Claimed: the next run leaves them until they are an hour old again, a host that is down included.
    expect((await claimDriftSweep(t.db, 100, new Date(Date.now() - 3_600_000))).filter((id) => id.startsWith('s-'))).toEqual([]);
    expect(await claimDriftSweep(t.db, 2, new Date(Date.now() + 1_000))).toHaveLength(2);
  });

  it('counts live workspaces whose latest verify found drift; a repair puts its workspace first in the sweep', async () => {
    const before = await countDriftedWorkspaces(t.db);
    await ws('c-1');
    await ws('c-2');
    await markVerified(t.db, 'c-1', true);
    await markVerified(t.db, 'c-2', false);
    expect(await countDriftedWorkspaces(t.db)).toBe(before + 1);

    await markRepaired(t.db, 'c-1');
    expect(await claimDriftSweep(t.db, 1000, new Date(Date.now() - 3_600_000))).toContain('c-1');
    await ws('c-1', { status: 'removed' });
    expect(await countDriftedWorkspaces(t.db)).toBe(before);
  });

  it('records an adopted revision per plugin of one repair, with the files given and no tarball to keep', async () => {
    await ws('a-1');
    const id = await operation('a-1', 'repair');
    const files = [{ path: 'rules/x.md', sha256: 'e'.repeat(64), size: 3 }];
    for (const plugin of ['one', 'two']) {
      const add = () =>
        addRevision(t.db, {
          workspaceId: 'a-1',
          plugin,
          operationId: id,
          version: null,
          source: 'host://a-1',
          sha256: 'e'.repeat(64),
          skills: [],
          runtimes: [],
          files,
          status: 'active',
          keep: 5,
        });
      expect((await add()).revision).toBe(1);
      expect((await add()).revision).toBe(1);
    }
    const [adopted] = await listRevisions(t.db, 'a-1', 'one');
    expect(adopted).toMatchObject({ source: 'host://a-1', files, status: 'active', tarballKept: false });
    expect([...(await activeRevisionsOn(t.db, 'a-1')).keys()].sort()).toEqual(['one', 'two']);
    expect(await expiredTarballs(t.db, 100)).not.toContain('e'.repeat(64));
    await finishOperation(t.db, id, 'SUCCEEDED');
  });
});
