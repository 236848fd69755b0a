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
async function operation(
  id: string,
  status: OperationStatus = 'RUNNING',
  workspaceId = 'ws-lease',
  source = 'local://demo',
  plugin: string | null = null,
): Promise<string> {
  await createOperation(t.db, {
    id,
    workspaceId,
    orgId: 'org-a',
    kind: 'install',
    plugin,
    source,
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
    await finishOperation(t.db, a, 'SUCCEEDED');
    expect(await acquireLease(t.db, 'ws-lease', b, 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    // b never ended: past the TTL neither its lease nor its place in the queue holds the workspace.
    expect(await acquireLease(t.db, 'ws-lease', c, 1)).toBe(true);
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

describe('operations queued on one workspace', () => {
  const ws = (name: string) => `ws-queue-${name}`;
  const accepted = async (name: string, ids: string[]) => {
    const made: string[] = [];
    for (const id of ids) made.push(await operation(id, 'RUNNING', ws(name)));
    return made;
  };

  it('take the lease in the order they were accepted, not in the order they ask for it', async () => {
    const [holding, first, second, third] = await accepted('order', ['q-hold', 'q-1', 'q-2', 'q-3']);
    expect(await acquireLease(t.db, ws('order'), holding!, 60_000)).toBe(true);
    for (const waiter of [third!, second!, first!]) expect(await acquireLease(t.db, ws('order'), waiter, 60_000)).toBe(false);
    await finishOperation(t.db, holding!, 'SUCCEEDED');
    // The youngest asks first each time the workspace frees; it still waits its turn.
    expect(await acquireLease(t.db, ws('order'), third!, 60_000)).toBe(false);
    expect(await acquireLease(t.db, ws('order'), second!, 60_000)).toBe(false);
    expect(await acquireLease(t.db, ws('order'), first!, 60_000)).toBe(true);
    await finishOperation(t.db, first!, 'SUCCEEDED');
    expect(await acquireLease(t.db, ws('order'), third!, 60_000)).toBe(false);
    expect(await acquireLease(t.db, ws('order'), second!, 60_000)).toBe(true);
    await finishOperation(t.db, second!, 'FAILED', { code: 'delivery_failed', message: 'x', httpStatus: 502 });
    expect(await acquireLease(t.db, ws('order'), third!, 60_000)).toBe(true);
  });

  it('wait for an older operation still staging, but not for one older than the lease TTL (its execution died)', async () => {
    const [dead, staging, ready] = await accepted('ready', ['q-dead', 'q-staging', 'q-ready']);
    await t.db.query(`UPDATE plugin_operations SET created_at = now() - interval '1 hour' WHERE id = $1`, [dead]);
    expect(await acquireLease(t.db, ws('ready'), ready!, 60_000)).toBe(false);
    await finishOperation(t.db, staging!, 'FAILED', { code: 'fetch_failed', message: 'x', httpStatus: 502 });
    expect(await acquireLease(t.db, ws('ready'), ready!, 60_000)).toBe(true);
  });

  it('leave the lease with its holder when its step is retried, with younger ones waiting', async () => {
    const [holding, younger] = await accepted('reentrant', ['q-holder', 'q-younger']);
    expect(await acquireLease(t.db, ws('reentrant'), holding!, 60_000)).toBe(true);
    expect(await acquireLease(t.db, ws('reentrant'), younger!, 60_000)).toBe(false);
    expect(await acquireLease(t.db, ws('reentrant'), holding!, 60_000)).toBe(true);
    expect(await holder(ws('reentrant'))).toBe(holding);
  });

  it('do not queue behind operations of other workspaces', async () => {
    await accepted('other-a', ['q-other-a']);
    const [mine] = await accepted('other-b', ['q-other-b']);
    expect(await acquireLease(t.db, ws('other-b'), mine!, 60_000)).toBe(true);
  });

  it('queue behind the same plugin only: by name once staged, by origin before', async () => {
    const on = (id: string, source: string, plugin: string | null = null) => operation(id, 'RUNNING', ws('plugins'), source, plugin);
    await on('p-lint-v1', 'github://acme/lint#v1');
    await on('p-docs', 'github://acme/docs#v1', 'docs');
    await on('p-named', 'github://elsewhere/renamed#v1', 'hello');
    const lintV2 = await on('p-lint-v2', 'github://ACME/lint#v2');
    const other = await on('p-other', 'local://code-review-rules', 'code-review-rules');
    const hello = await on('p-hello', 'local://hello', 'hello');
    expect(await acquireLease(t.db, ws('plugins'), lintV2, 60_000)).toBe(false);
    expect(await acquireLease(t.db, ws('plugins'), hello, 60_000)).toBe(false);
    expect(await acquireLease(t.db, ws('plugins'), other, 60_000)).toBe(true);
  });
});
