import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { acquireLease, releaseLease } from '../../../lambdas/store/leases.js';
import { createOperation, finishOperation } from '../../../lambdas/store/operations.js';
import type { OperationStatus } from '../../../lambdas/shared/types.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});

/** A lease holder is an operation id: these are operations in the given state. */
async function operation(id: string, status: OperationStatus = 'RUNNING'): Promise<string> {
  await createOperation(t.db, {
    id,
    workspaceId: 'ws-lease',
    orgId: 'org-a',
    kind: 'install',
    plugin: null,
    source: 'local://demo',
    sha256: null,
    idempotencyKey: null,
    requestHash: null,
    actorPrefix: 'test',
    executionArn: null,
  });
  if (status !== 'RUNNING') {
    await finishOperation(t.db, id, status, status === 'FAILED' ? { code: 'delivery_failed', message: 'x', httpStatus: 502 } : undefined);
  }
  return id;
}

const holder = async (workspaceId: string) =>
  (await t.db.query<{ holder: string }>('SELECT holder FROM workspace_leases WHERE workspace_id = $1', [workspaceId])).rows[0]?.holder;

describe('leases', () => {
  it('lets one holder in at a time, re-entrant for the holder, and free after release or expiry', async () => {
    const [a, b, c] = [await operation('op-a'), await operation('op-b'), await operation('op-c')];
    expect(await acquireLease(t.db, 'ws-lease', a, 60_000)).toBe(true);
    expect(await acquireLease(t.db, 'ws-lease', b, 60_000)).toBe(false);
    expect(await acquireLease(t.db, 'ws-lease', a, 60_000)).toBe(true);
    await releaseLease(t.db, 'ws-lease', b);
    expect(await acquireLease(t.db, 'ws-lease', b, 60_000)).toBe(false);
    await releaseLease(t.db, 'ws-lease', a);
    expect(await acquireLease(t.db, 'ws-lease', b, 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(await acquireLease(t.db, 'ws-lease', c, 60_000)).toBe(true);
  });

  it('grants exactly one of many concurrent claims', async () => {
    const holders = await Promise.all(Array.from({ length: 8 }, (_, i) => operation(`op-race-${i}`)));
    const claims = await Promise.all(holders.map((h) => acquireLease(t.db, 'ws-race', h, 60_000)));
    expect(claims.filter(Boolean)).toHaveLength(1);
  });
});

describe('a lease belongs to an execution', () => {
  it.each([
    ['FAILED', 'ws-held-failed'],
    ['SUCCEEDED', 'ws-held-succeeded'],
  ] as const)('held by a %s operation, it is taken at once, long before its expiry', async (status, ws) => {
    const dead = await operation(`op-dead-${status}`);
    expect(await acquireLease(t.db, ws, dead, 3_600_000)).toBe(true);
    await finishOperation(t.db, dead, status, status === 'FAILED' ? { code: 'delivery_failed', message: 'x', httpStatus: 502 } : undefined);
    const next = await operation(`op-next-${status}`);
    expect(await acquireLease(t.db, ws, next, 60_000)).toBe(true);
    expect(await holder(ws)).toBe(next);
  });

  it('held by an operation that was never recorded, it is taken at once', async () => {
    expect(await acquireLease(t.db, 'ws-held-ghost', 'op-never-recorded', 3_600_000)).toBe(true);
    const next = await operation('op-after-ghost');
    expect(await acquireLease(t.db, 'ws-held-ghost', next, 60_000)).toBe(true);
    expect(await holder('ws-held-ghost')).toBe(next);
  });

  it('held by a RUNNING operation, it is refused until that operation ends', async () => {
    const running = await operation('op-still-running');
    const waiting = await operation('op-waiting');
    expect(await acquireLease(t.db, 'ws-held-running', running, 3_600_000)).toBe(true);
    expect(await acquireLease(t.db, 'ws-held-running', waiting, 60_000)).toBe(false);
    expect(await acquireLease(t.db, 'ws-held-running', waiting, 60_000)).toBe(false);
    expect(await holder('ws-held-running')).toBe(running);
    await finishOperation(t.db, running, 'SUCCEEDED');
    expect(await acquireLease(t.db, 'ws-held-running', waiting, 60_000)).toBe(true);
    expect(await holder('ws-held-running')).toBe(waiting);
  });

  it('grants one of many concurrent claims on a lease whose holder has ended', async () => {
    const dead = await operation('op-race-dead');
    expect(await acquireLease(t.db, 'ws-race-dead', dead, 3_600_000)).toBe(true);
    await finishOperation(t.db, dead, 'SUCCEEDED');
    const contenders = await Promise.all(Array.from({ length: 6 }, (_, i) => operation(`op-race-next-${i}`)));
    const claims = await Promise.all(contenders.map((h) => acquireLease(t.db, 'ws-race-dead', h, 60_000)));
    expect(claims.filter(Boolean)).toHaveLength(1);
  });
});
