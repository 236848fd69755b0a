import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnedStack } from '../support/local-stack.js';
import { FAULT_TEST_TIMEOUT_MS, until as waitFor } from '../support/until.js';
import { type KillableStack, killableStack } from '../support/held-tar.js';
import { expectExactLedger } from '../support/rollout-ledger.js';

/**
 * SPEC §10 crash safety: `kill -9` of `npm start` while a rollout has installs in flight, then
 * `npm start` again on the same state. The driver's execution is lost with the engine; the
 * reconciler gives the rollout a new driver, which carries on from the ledger: no workspace gets a
 * second install, none is forgotten, and every operation ends.
 */
const WORKSPACES = ['r0', 'r1', 'r2', 'r3'].map((id) => ({ id, instanceId: `i-0e2e00000000b0${id.slice(1).padStart(2, '0')}` }));

let harness: KillableStack | undefined;
let stack: SpawnedStack | undefined;

/** Waits for `probe`, showing the stack's output when it gives up. */
const until = <T>(what: string, probe: () => Promise<T | undefined> | T | undefined) => waitFor(what, probe, () => stack?.output() ?? '');

beforeAll(async () => {
  // Installs are in flight when the stack is killed.
  harness = await killableStack('rollout-recovery');
  stack = harness.stack;
}, 90_000);

afterAll(async () => {
  await harness?.close();
});

describe('a stack killed mid-rollout and started again', { timeout: FAULT_TEST_TIMEOUT_MS }, () => {
  it('resumes the rollout from its ledger: one operation per workspace, every one ended, none forgotten', async () => {
    const first = stack as SpawnedStack;
    const admin = first.adminToken;
    for (const w of WORKSPACES) {
      await first.call('PUT', `/admin/workspaces/${w.id}`, { token: admin, body: { orgId: 'crash', runtime: 'claude-code', instanceId: w.instanceId } });
    }
    const org = (await first.call('POST', '/admin/orgs/crash/tokens', { token: admin })).body.token as string;
    await harness!.tar.hold();

    const accepted = await first.call('POST', '/orgs/crash/rollouts', {
      token: org,
      body: { source: 'local://hello-skill', targets: { all: true }, maxConcurrency: 2, canary: 0, maxErrors: 4 },
    });
    expect(accepted.status).toBe(202);
    const { rolloutId } = accepted.body as { rolloutId: string };
    await until('two installs in flight', async () => ((await harness!.tar.reached()) >= 2 ? true : undefined));
    await first.kill();
    await harness!.tar.release();

    stack = await harness!.restart(first);
    const second = stack;
    const ended = await until('the rollout to end', async () => {
      const r = (await second.call('GET', `/orgs/crash/rollouts/${rolloutId}`, { token: org })).body;
      return r.status !== 'RUNNING' ? r : undefined;
    });
    expect(ended.status).toBe('SUCCEEDED');
    expect(ended.counts).toMatchObject({ total: 4, pending: 0, running: 0 });
    expect(ended.counts.succeeded + ended.counts.failed).toBe(4);

    // One operation per workspace, each ended; the workspaces killed mid-install have it too.
    await expectExactLedger(second, ended, WORKSPACES, 'hello-skill');
  });
});
