import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnLocalStack, type SpawnedStack } from '../support/local-stack.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { FlakyProxy } from '../support/flaky-proxy.js';
import { FAULT_TEST_TIMEOUT_MS, until as waitFor } from '../support/until.js';
import { heldTar, type HeldTar } from '../support/held-tar.js';
import { expectExactLedger } from '../support/rollout-ledger.js';

/**
 * SPEC §10 crash safety: the platform database goes away in the middle of a rollout, with installs
 * in flight, for longer than the driver's retries last, as in an RDS failover. `npm start`'s process
 * reaches PostgreSQL through a TCP proxy that cuts every connection while down. The driver gives up
 * and leaves the rollout RUNNING; once the database is back, the reconciler gives it a new driver,
 * which carries on from the ledger: one operation per workspace, every one ended, none forgotten.
 */
const WORKSPACES = ['d0', 'd1', 'd2', 'd3', 'd4'].map((id) => ({ id, instanceId: `i-0e2e00000000d0${id.slice(1).padStart(2, '0')}` }));

let tar: HeldTar | undefined;
let database: TestDatabase | undefined;
let proxy: FlakyProxy | undefined;
let stack: SpawnedStack | undefined;

const until = <T>(what: string, probe: () => Promise<T | undefined> | T | undefined) => waitFor(what, probe, () => stack?.output() ?? '');

beforeAll(async () => {
  // Installs are in flight when the database goes away.
  tar = await heldTar('rollout-outage');
  database = await createTestDatabase();
  const url = new URL(database.url);
  proxy = new FlakyProxy({ host: url.hostname, port: Number(url.port) });
  url.port = String(await proxy.listen());
  stack = await spawnLocalStack({
    DATABASE_URL: url.toString(),
    PATH: tar.path,
    PLUGIN_RECONCILE_AFTER: '2s',
    PLUGIN_RECONCILE_INTERVAL: '1s',
  });
}, 150_000);

afterAll(async () => {
  proxy?.restore();
  await tar?.release();
  await stack?.stop();
  await proxy?.close();
  await database?.close();
  await tar?.close();
});

describe('a database outage in the middle of a rollout', { timeout: FAULT_TEST_TIMEOUT_MS }, () => {
  it('leaves the rollout to a new driver once the database is back: one operation per workspace, every one ended, none forgotten', async () => {
    const live = stack as SpawnedStack;
    const admin = live.adminToken;
    for (const w of WORKSPACES) {
      await live.call('PUT', `/admin/workspaces/${w.id}`, { token: admin, body: { orgId: 'outage', runtime: 'claude-code', instanceId: w.instanceId } });
    }
    const org = (await live.call('POST', '/admin/orgs/outage/tokens', { token: admin })).body.token as string;
    await tar!.hold();

    const accepted = await live.call('POST', '/orgs/outage/rollouts', {
      token: org,
      body: { source: 'local://hello-skill', targets: { all: true }, maxConcurrency: 2, canary: 0, maxErrors: 0 },
    });
    expect(accepted.status).toBe(202);
    const { rolloutId } = accepted.body as { rolloutId: string };
    await until('two installs in flight', async () => ((await tar!.reached()) >= 2 ? true : undefined));

    proxy!.outage();
    // While it is away, a client is told so, in the documented way.
    const during = await live.call('GET', `/orgs/outage/rollouts/${rolloutId}`, { token: org });
    expect([during.status, during.body.code]).toEqual([503, 'platform_unavailable']);
    // The driver's retries run out and it gives the rollout up, without ending it.
    await until('the driver to give up', () => (live.output().includes('rollout driver gave up on trouble that passes') ? true : undefined));
    proxy!.restore();
    await tar!.release();

    const ended = await until('the rollout to end', async () => {
      const r = (await live.call('GET', `/orgs/outage/rollouts/${rolloutId}`, { token: org })).body;
      return r.status !== 'RUNNING' ? r : undefined;
    });
    expect(live.output()).toContain('rollout driver restarted');
    expect(ended.status).toBe('SUCCEEDED');
    expect(ended.counts).toMatchObject({ total: 5, pending: 0, running: 0, succeeded: 5, failed: 0 });

    const ops = await expectExactLedger(live, ended, WORKSPACES, 'hello-skill');
    expect(ops.map((op) => op.status)).toEqual(WORKSPACES.map(() => 'SUCCEEDED'));
  });
});
