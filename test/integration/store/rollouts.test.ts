import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { createOperation, finishOperation } from '../../../lambdas/store/operations.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import {
  createRollout,
  finishRollout,
  getRollout,
  listRollouts,
  markTargetStarted,
  requestCancel,
  resumeRollout,
  rolloutCounts,
  rolloutCountsOf,
  rolloutTargets,
  settleTargets,
  skipTarget,
  updateControls,
} from '../../../lambdas/store/rollouts.js';

/** SPEC §10's ledger in PostgreSQL: what a driver reads and writes, each move in one statement. */
let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  for (const id of ['ws-a', 'ws-b', 'ws-c'])
    await upsertWorkspace(t.db, id, { orgId: 'org-ro', runtime: 'claude-code', instanceId: null, transport: 'auto', status: 'online' });
});
afterAll(async () => {
  await t?.close();
});

async function operation(workspaceId: string): Promise<string> {
  const id = randomUUID();
  await createOperation(t.db, {
    id,
    workspaceId,
    orgId: 'org-ro',
    kind: 'install',
    plugin: 'p',
    source: 'local://p',
    sha256: null,
    idempotencyKey: null,
    requestHash: null,
    actorPrefix: 'rollout',
    executionArn: null,
  });
  return id;
}

async function rollout() {
  return createRollout(t.db, {
    id: randomUUID(),
    orgId: 'org-ro',
    kind: 'install',
    plugin: null,
    source: 'local://p',
    sha256: null,
    request: { restart: true },
    maxConcurrency: '50%',
    maxErrors: 1,
    canary: 1,
    failureMode: 'tolerant',
    parentRolloutId: null,
    actorPrefix: 'test',
    targets: [
      { workspaceId: 'ws-a', status: 'pending' },
      { workspaceId: 'ws-b', status: 'pending' },
      { workspaceId: 'ws-ext', status: 'skipped', reason: 'external_runtime' },
      { workspaceId: 'ws-c', status: 'pending' },
    ],
  });
}

describe('rollouts', () => {
  it('records the rollout with its ledger in order, rate controls as given', async () => {
    const r = await rollout();
    expect(r).toMatchObject({ status: 'RUNNING', maxConcurrency: '50%', maxErrors: 1, canary: 1, failureMode: 'tolerant' });
    expect((await rolloutTargets(t.db, r.id)).map((x) => [x.position, x.workspaceId, x.status, x.reason])).toEqual([
      [0, 'ws-a', 'pending', null],
      [1, 'ws-b', 'pending', null],
      [2, 'ws-ext', 'skipped', 'external_runtime'],
      [3, 'ws-c', 'pending', null],
    ]);
    expect((await listRollouts(t.db, 'org-ro', 10)).map((x) => x.id)).toContain(r.id);
  });

  it('moves a target to running once, and to its operation’s end when the operation ends', async () => {
    const r = await rollout();
    const op = await operation('ws-a');
    await markTargetStarted(t.db, r.id, 0, op);
    await markTargetStarted(t.db, r.id, 0, await operation('ws-a'));
    expect((await rolloutTargets(t.db, r.id))[0]).toMatchObject({ status: 'running', operationId: op });
    expect(await settleTargets(t.db, r.id)).toBe(0);
    await finishOperation(t.db, op, 'FAILED', { code: 'workspace_unreachable', message: 'stopped', httpStatus: 503 });
    expect(await settleTargets(t.db, r.id)).toBe(1);
    expect((await rolloutTargets(t.db, r.id))[0]).toMatchObject({ status: 'failed', error: { code: 'workspace_unreachable', message: 'stopped' } });
    await skipTarget(t.db, r.id, 1, 'already_installed');
    expect(await rolloutCounts(t.db, r.id)).toEqual({ total: 4, pending: 1, running: 0, succeeded: 0, failed: 1, unreachable: 1, skipped: 2, rolledBack: 0 });
    // A listing reads every rollout's counts in one statement, each apart.
    const fresh = await rollout();
    const listed = await rolloutCountsOf(t.db, [r.id, fresh.id, 'no-such-rollout']);
    expect(Object.fromEntries(listed)).toEqual({
      [r.id]: { total: 4, pending: 1, running: 0, succeeded: 0, failed: 1, unreachable: 1, skipped: 2, rolledBack: 0 },
      [fresh.id]: { total: 4, pending: 3, running: 0, succeeded: 0, failed: 0, unreachable: 0, skipped: 1, rolledBack: 0 },
    });
  });

  it('cancels, changes the rate controls and resumes only in the states that allow it', async () => {
    const r = await rollout();
    expect(await updateControls(t.db, r.id, { maxConcurrency: 3 })).toBe(true);
    expect((await getRollout(t.db, r.id))?.maxConcurrency).toBe(3);
    expect(await requestCancel(t.db, r.id)).toBe(true);
    expect(await resumeRollout(t.db, r.id)).toBe(false);
    expect(await finishRollout(t.db, r.id, 'CANCELLED')).toBe(true);
    expect(await finishRollout(t.db, r.id, 'SUCCEEDED')).toBe(false);
    expect(await requestCancel(t.db, r.id)).toBe(false);
    expect(await updateControls(t.db, r.id, { maxErrors: 2 })).toBe(false);
    expect(await resumeRollout(t.db, r.id, '10%')).toBe(true);
    expect(await getRollout(t.db, r.id)).toMatchObject({ status: 'RUNNING', cancelRequested: false, maxErrors: '10%' });
  });
});
