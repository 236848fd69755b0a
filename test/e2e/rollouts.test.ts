import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { CLI_TEST_TIMEOUT_MS, runCli } from '../support/cli.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useLocalStack } from '../support/local-stack.js';
import { FakeCodeload } from '../support/codeload.js';
import { pluginEntries, tarGz } from '../support/archives.js';
import { peakOverlap } from '../../bench/lib/stats.js';

/**
 * SPEC §10 end to end through `npm start`'s process: a rollout's driver runs in the one workflow
 * definition on the local engine, starting ordinary install operations on emulated hosts. Failures
 * come from stopped instances (`workspace_unreachable`), as on a real fleet.
 */
const codeload = new FakeCodeload();
const serve = (ref: string, files: Record<string, string>) => codeload.set('acme/kit', ref, () => tarGz(pluginEntries(files, `kit-${ref}`)));
beforeAll(() => {
  codeload.start();
  serve('v1', { 'plugin.yaml': 'name: kit\nversion: 1.0.0\n', 'rules/a.md': 'one\n' });
  serve('v2', { 'plugin.yaml': 'name: kit\nversion: 2.0.0\n', 'rules/a.md': 'two\n' });
  for (const name of ['fence', 'yard', 'strict']) {
    codeload.set(`acme/${name}`, 'v1', () =>
      tarGz(pluginEntries({ 'plugin.yaml': `name: ${name}\nversion: 1.0.0\n`, 'rules/a.md': `${name}\n` }, `${name}-v1`)),
    );
  }
});
afterAll(() => codeload.stop());
const stack = useLocalStack(() => ({ GITHUB_CODELOAD_URL: codeload.url }));
let org = '';
let other = '';

/** Ten workspaces of org `fleet`: f00..f09, each on its own instance; f-ext is external; f-hermes runs hermes. */
const fleet = Array.from({ length: 10 }, (_, i) => ({ id: `f0${i}`, instanceId: `i-0f1ee7000000000${i.toString(16)}` }));
const pluginDir = (instanceId: string, name: string) => join(stack.localDir, 'instances', instanceId, 'configs', 'plugins', name);

beforeAll(async () => {
  const admin = { token: stack.adminToken };
  for (const w of fleet)
    await stack.call('PUT', `/admin/workspaces/${w.id}`, { ...admin, body: { orgId: 'fleet', runtime: 'claude-code', instanceId: w.instanceId } });
  await stack.call('PUT', '/admin/workspaces/f-ext', { ...admin, body: { orgId: 'fleet', runtime: 'external' } });
  await stack.call('PUT', '/admin/workspaces/f-hermes', { ...admin, body: { orgId: 'fleet', runtime: 'hermes', instanceId: 'i-0f1ee700000000ff' } });
  await stack.call('PUT', '/admin/workspaces/o-1', { ...admin, body: { orgId: 'elsewhere', runtime: 'claude-code', instanceId: 'i-0f1ee700000000ee' } });
  await stack.call('PUT', '/admin/workspaces/o-2', { ...admin, body: { orgId: 'elsewhere', runtime: 'claude-code', instanceId: 'i-0f1ee700000000ef' } });
  org = (await stack.call('POST', '/admin/orgs/fleet/tokens', admin)).body.token;
  other = (await stack.call('POST', '/admin/orgs/elsewhere/tokens', admin)).body.token;
});

const create = (body: Record<string, unknown>, token = org) => stack.call('POST', '/orgs/fleet/rollouts', { token, body });

async function finished(rolloutId: string, orgId = 'fleet', token = org): Promise<any> {
  for (let i = 0; i < 600; i++) {
    const r = (await stack.call('GET', `/orgs/${orgId}/rollouts/${rolloutId}`, { token })).body;
    if (r.status !== 'RUNNING') return r;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`rollout ${rolloutId} still running:\n${stack.output()}`);
}

/** The most installs of the rollout in flight at once, from the operations' own timestamps. */
async function peakInFlight(rollout: any): Promise<number> {
  const spans: Array<[number, number]> = [];
  for (const w of rollout.workspaces.filter((x: any) => x.operationId)) {
    const op = (await stack.call('GET', `/operations/${w.operationId}`, { token: stack.adminToken })).body;
    expect(op.rolloutId).toBe(rollout.rolloutId);
    spans.push([Date.parse(op.createdAt), Date.parse(op.updatedAt)]);
  }
  return peakOverlap(spans);
}

const stop = (instanceId: string) => stack.call('POST', `/admin/local/instances/${instanceId}/stop`, { token: stack.adminToken });
const start = (instanceId: string) => stack.call('POST', `/admin/local/instances/${instanceId}/start`, { token: stack.adminToken });

describe('fleet rollouts', () => {
  it('installs on every workspace after one canary, never more than maxConcurrency at once, skipping what it does not concern', async () => {
    const accepted = await create({ source: 'local://safe-shell-hook', targets: { all: true }, maxConcurrency: 3, canary: 1 });
    expect(accepted.status).toBe(202);
    expect(accepted.body.statusUrl).toBe(`/orgs/fleet/rollouts/${accepted.body.rolloutId}`);
    const r = await finished(accepted.body.rolloutId);
    expect(r).toMatchObject({ status: 'SUCCEEDED', plugin: 'safe-shell-hook', maxConcurrency: 3, maxErrors: 0, canary: 1, failureMode: 'tolerant' });
    expect(r.counts).toEqual({ total: 12, pending: 0, running: 0, succeeded: 10, failed: 0, unreachable: 0, skipped: 2 });
    expect(r.workspaces.filter((w: any) => w.status === 'skipped').map((w: any) => [w.workspaceId, w.reason])).toEqual([
      ['f-ext', 'external_runtime'],
      ['f-hermes', 'unsupported_runtime'],
    ]);
    for (const w of fleet) expect(existsSync(pluginDir(w.instanceId, 'safe-shell-hook'))).toBe(true);
    expect(await peakInFlight(r)).toBeLessThanOrEqual(3);
    // The canary (the first target, f00) ended before any other started.
    const ops = await Promise.all(
      r.workspaces
        .filter((w: any) => w.operationId)
        .map(async (w: any) => (await stack.call('GET', `/operations/${w.operationId}`, { token: stack.adminToken })).body),
    );
    const canary = ops.find((op: any) => op.workspaceId === 'f00');
    expect(ops.filter((op: any) => op.workspaceId !== 'f00').every((op: any) => Date.parse(op.createdAt) >= Date.parse(canary.updatedAt))).toBe(true);
  });

  it('skips workspaces where that version is already active', async () => {
    const r = await finished((await create({ source: 'local://safe-shell-hook', targets: { workspaceIds: ['f01', 'f02'] } })).body.rolloutId);
    expect(r.status).toBe('SUCCEEDED');
    expect(r.workspaces.map((w: any) => w.reason)).toEqual(['already_installed', 'already_installed']);
  });

  it('stops once failures exceed maxErrors, leaving the untouched targets pending, counting unreachable hosts apart; resume carries on', async () => {
    for (const w of fleet.slice(2, 5)) await stop(w.instanceId);
    try {
      const accepted = await create({ source: 'local://code-review-rules', targets: { runtime: 'claude_code' }, maxConcurrency: 1, maxErrors: 1, canary: 1 });
      const r = await finished(accepted.body.rolloutId);
      expect(r.status).toBe('STOPPED');
      expect(r.counts).toMatchObject({ succeeded: 2, failed: 2, unreachable: 2, pending: 6 });
      expect(r.workspaces.slice(0, 4).map((w: any) => [w.workspaceId, w.status])).toEqual([
        ['f00', 'succeeded'],
        ['f01', 'succeeded'],
        ['f02', 'failed'],
        ['f03', 'failed'],
      ]);
      expect(r.workspaces[2].error.code).toBe('workspace_unreachable');
      for (const w of fleet.slice(4)) expect(existsSync(pluginDir(w.instanceId, 'code-review-rules'))).toBe(false);

      for (const w of fleet.slice(2, 5)) await start(w.instanceId);
      const resumed = await stack.call('POST', `/orgs/fleet/rollouts/${accepted.body.rolloutId}/resume`, { token: org, body: { maxErrors: 5 } });
      expect(resumed.status).toBe(202);
      const after = await finished(accepted.body.rolloutId);
      expect(after.status).toBe('SUCCEEDED');
      expect(after.counts).toMatchObject({ succeeded: 8, failed: 2, pending: 0 });
      const again = await stack.call('POST', `/orgs/fleet/rollouts/${accepted.body.rolloutId}/resume`, { token: org });
      expect([again.status, again.body.code]).toEqual([409, 'rollout_finished']);
    } finally {
      for (const w of fleet.slice(2, 5)) await start(w.instanceId);
    }
  });

  it('stops at a failed canary, touching no other workspace', async () => {
    // f00 is the first target, so the canary.
    await stop(fleet[0]!.instanceId);
    try {
      const targets = { workspaceIds: fleet.map((w) => w.id) };
      const r = await finished((await create({ source: 'local://hello-skill', targets, maxErrors: '50%', canary: 1 })).body.rolloutId);
      expect(r.status).toBe('STOPPED');
      expect(r.counts).toMatchObject({ failed: 1, running: 0, succeeded: 0 });
      for (const w of fleet) expect(existsSync(pluginDir(w.instanceId, 'hello-skill'))).toBe(false);
    } finally {
      await start(fleet[0]!.instanceId);
    }
  });

  it('holds strict mode to maxErrors + 1 failures, shrinking concurrency as failures arrive', async () => {
    // f02..f05 are down; at maxConcurrency 5 a tolerant rollout could fail on all four before it stops.
    for (const w of fleet.slice(2, 6)) await stop(w.instanceId);
    try {
      const targets = { workspaceIds: fleet.map((w) => w.id) };
      const body = { source: 'github://acme/strict#v1', targets, maxConcurrency: 5, maxErrors: 1, canary: 0, failureMode: 'strict' };
      const r = await finished((await create(body)).body.rolloutId);
      expect(r).toMatchObject({ status: 'STOPPED', failureMode: 'strict' });
      expect(r.counts.failed).toBe(2);
      expect(r.counts.unreachable).toBe(2);
      expect(await peakInFlight(r)).toBeLessThanOrEqual(2);
      const started = r.workspaces.filter((w: any) => w.operationId).map((w: any) => w.workspaceId);
      for (const w of fleet.filter((x) => !started.includes(x.id))) expect(existsSync(pluginDir(w.instanceId, 'strict'))).toBe(false);
    } finally {
      for (const w of fleet.slice(2, 6)) await start(w.instanceId);
    }
  });

  it('cancels: nothing new starts, and it ends CANCELLED; a finished rollout takes no cancel or new rate controls', async () => {
    const accepted = await create({ source: 'local://hello-skill', targets: { all: true }, maxConcurrency: 1, canary: 0 });
    const cancel = await stack.call('POST', `/orgs/fleet/rollouts/${accepted.body.rolloutId}/cancel`, { token: org });
    expect(cancel.status).toBe(202);
    const r = await finished(accepted.body.rolloutId);
    expect(r.status).toBe('CANCELLED');
    expect(r.counts.pending).toBeGreaterThan(0);
    const late = await stack.call('POST', `/orgs/fleet/rollouts/${accepted.body.rolloutId}/cancel`, { token: org });
    expect([late.status, late.body.code]).toEqual([409, 'rollout_finished']);
    const patch = await stack.call('PATCH', `/orgs/fleet/rollouts/${accepted.body.rolloutId}`, { token: org, body: { maxConcurrency: 5 } });
    expect([patch.status, patch.body.code]).toEqual([409, 'rollout_finished']);
    expect((await stack.call('GET', '/orgs/fleet/rollouts?limit=2', { token: org })).body.rollouts[0].rolloutId).toBe(accepted.body.rolloutId);
  });

  it('plans on every target with dryRun, changing nothing', async () => {
    const r = await finished(
      (await create({ source: 'local://code-review-rules', targets: { workspaceIds: ['f08', 'f09'] }, dryRun: true, maxConcurrency: 2 })).body.rolloutId,
    );
    expect(r.status).toBe('SUCCEEDED');
    for (const w of r.workspaces) expect(w.plan).toMatchObject({ status: 'planned', plugin: 'code-review-rules', allowed: true, restart: false });
    const ops = await Promise.all(
      r.workspaces.map(async (w: any) => (await stack.call('GET', `/operations/${w.operationId}`, { token: stack.adminToken })).body),
    );
    expect(ops.map((op: any) => op.kind)).toEqual(['plan', 'plan']);
  });

  it('rolls a whole rollout back: each workspace to the revision it had before, or without the plugin where it had none', async () => {
    const [had, fresh] = [fleet[6]!, fleet[7]!];
    const first = await stack.call('POST', `/workspaces/${had.id}/plugins`, {
      token: org,
      body: { source: 'github://acme/kit#v1' },
      headers: { prefer: 'wait=25' },
    });
    expect(first.status).toBe(200);
    const up = await finished((await create({ source: 'github://acme/kit#v2', targets: { workspaceIds: [had.id, fresh.id] } })).body.rolloutId);
    expect(up.counts.succeeded).toBe(2);
    expect(await readFile(join(pluginDir(had.instanceId, 'kit'), 'rules', 'a.md'), 'utf8')).toBe('two\n');

    const accepted = await stack.call('POST', `/orgs/fleet/rollouts/${up.rolloutId}/rollback`, { token: org });
    expect(accepted.status).toBe(202);
    const back = await finished(accepted.body.rolloutId);
    expect(back).toMatchObject({ kind: 'rollback', status: 'SUCCEEDED' });
    expect(await readFile(join(pluginDir(had.instanceId, 'kit'), 'rules', 'a.md'), 'utf8')).toBe('one\n');
    expect(existsSync(pluginDir(fresh.instanceId, 'kit'))).toBe(false);
    const kinds = await Promise.all(
      back.workspaces.map(async (w: any) => (await stack.call('GET', `/operations/${w.operationId}`, { token: stack.adminToken })).body.kind),
    );
    expect(kinds).toEqual(['rollback', 'uninstall']);
    const undone = (await stack.call('GET', `/orgs/fleet/rollouts/${up.rolloutId}`, { token: org })).body;
    expect(undone.workspaces.map((w: any) => w.status)).toEqual(['rolled_back', 'rolled_back']);
  });

  it('judges the signature once for the whole rollout: an unsigned plugin where signatures are required fails it before any workspace', async () => {
    const trust = (requireSignature: boolean) => stack.call('PUT', '/orgs/fleet/plugins/trust', { token: org, body: { requireSignature, signers: [] } });
    expect((await trust(true)).status).toBe(200);
    try {
      const r = await finished((await create({ source: 'local://hello-skill', targets: { workspaceIds: ['f05'] } })).body.rolloutId);
      expect(r).toMatchObject({ status: 'FAILED', error: { code: 'signature_required', httpStatus: 403 } });
      expect(r.workspaces[0].status).toBe('pending');
      expect(existsSync(pluginDir(fleet[5]!.instanceId, 'hello-skill'))).toBe(false);
      // A dry run plans on, each plan saying what would refuse the install.
      const plan = await finished((await create({ source: 'local://hello-skill', targets: { workspaceIds: ['f05'] }, dryRun: true })).body.rolloutId);
      expect(plan.workspaces[0].plan).toMatchObject({ allowed: false, blockedBy: 'signature_required' });
    } finally {
      await trust(false);
    }
  });

  it('is driven from the CLI: create, watch (plain lines off a terminal), status and list', { timeout: CLI_TEST_TIMEOUT_MS }, async () => {
    const cli = (...args: string[]) => runCli(stack.url, org, ...args);
    const created = await cli('rollout', 'create', 'fleet', 'local://hello-skill', '--targets', 'f08,f09', '--max-concurrency', '1', '--canary', '1', '--json');
    expect(created.code).toBe(0);
    const { rolloutId } = JSON.parse(created.stdout) as { rolloutId: string };
    const watched = await cli('rollout', 'watch', 'fleet', rolloutId, '--interval', '0.2');
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain(`rollout ${rolloutId} (install of hello-skill): SUCCEEDED`);
    expect(watched.stderr.trim().split('\n').at(-1)).toMatch(/^\[#+\] 2\/2 done: 2 succeeded, 0 failed/);
    expect((await cli('rollout', 'status', 'fleet', rolloutId)).code).toBe(0);
    expect((await cli('rollout', 'list', 'fleet')).stdout).toContain(rolloutId);
    const again = await cli('rollout', 'cancel', 'fleet', rolloutId);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('(rollout_finished, HTTP 409)');
    expect((await cli('rollout', 'explode', 'fleet')).code).toBe(2);
  });

  it('refuses what it cannot do, synchronously, and keeps orgs apart', async () => {
    expect((await create({ source: 'local://hello-skill', targets: { runtime: 'langgraph' } })).body.code).toBe('no_targets');
    const foreign = await create({ source: 'local://hello-skill', targets: { workspaceIds: ['f00', 'o-1'] } });
    expect([foreign.status, foreign.body.code]).toEqual([404, 'workspace_not_found']);
    expect((await create({ source: 'local://hello-skill', targets: { all: true } }, other)).status).toBe(403);
    expect((await create({ source: 'local://hello-skill', targets: { all: true }, maxConcurrency: 0 })).body.code).toBe('invalid_request');
    expect((await create({ source: 'ftp://example.com/x', targets: { all: true } })).body.code).toBe('invalid_source');
    const mine = (await stack.call('GET', '/orgs/fleet/rollouts?limit=1', { token: org })).body.rollouts[0];
    expect((await stack.call('GET', `/orgs/elsewhere/rollouts/${mine.rolloutId}`, { token: other })).body.code).toBe('rollout_not_found');
  });
  it('keeps orgs apart: two orgs rolling out to all of their fleets at once each touch only their own, and neither can read or steer the other’s', async () => {
    const elsewhere = (body: Record<string, unknown>) => stack.call('POST', '/orgs/elsewhere/rollouts', { token: other, body });
    const [mine, theirs] = await Promise.all([
      create({ source: 'github://acme/fence#v1', targets: { all: true }, maxConcurrency: 5, canary: 0 }),
      elsewhere({ source: 'github://acme/yard#v1', targets: { all: true }, maxConcurrency: 2, canary: 0 }),
    ]);
    expect([mine.status, theirs.status]).toEqual([202, 202]);
    const [ours, rest] = await Promise.all([finished(mine.body.rolloutId), finished(theirs.body.rolloutId, 'elsewhere', other)]);
    expect([ours.status, rest.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(ours.workspaces.map((w: any) => w.workspaceId).sort()).toEqual([...fleet.map((w) => w.id), 'f-ext', 'f-hermes'].sort());
    expect(rest.workspaces.map((w: any) => w.workspaceId)).toEqual(['o-1', 'o-2']);
    // On the hosts: each org's plugin on its own workspaces, and nowhere else.
    for (const w of fleet) expect([existsSync(pluginDir(w.instanceId, 'fence')), existsSync(pluginDir(w.instanceId, 'yard'))]).toEqual([true, false]);
    for (const instanceId of ['i-0f1ee700000000ee', 'i-0f1ee700000000ef']) {
      expect([existsSync(pluginDir(instanceId, 'fence')), existsSync(pluginDir(instanceId, 'yard'))]).toEqual([false, true]);
    }
    // Each operation a rollout started is on one of its own org's workspaces.
    for (const [r, orgId] of [
      [ours, 'fleet'],
      [rest, 'elsewhere'],
    ] as const) {
      for (const w of r.workspaces.filter((x: any) => x.operationId)) {
        const op = (await stack.call('GET', `/operations/${w.operationId}`, { token: stack.adminToken })).body;
        expect([op.orgId, op.rolloutId]).toEqual([orgId, r.rolloutId]);
      }
    }
    // Another org's rollout, whether named under its org or one's own: 403 and 404, whatever the verb.
    const id = ours.rolloutId;
    const steer = [
      ['GET', ''],
      ['PATCH', '', { maxConcurrency: 1 }],
      ['POST', '/cancel'],
      ['POST', '/resume'],
      ['POST', '/rollback'],
    ] as const;
    for (const [method, suffix, body] of steer) {
      const underTheirs = await stack.call(method, `/orgs/fleet/rollouts/${id}${suffix}`, { token: other, ...(body && { body }) });
      expect([method, suffix, underTheirs.status]).toEqual([method, suffix, 403]);
      const underOwn = await stack.call(method, `/orgs/elsewhere/rollouts/${id}${suffix}`, { token: other, ...(body && { body }) });
      expect([method, suffix, underOwn.status, underOwn.body.code]).toEqual([method, suffix, 404, 'rollout_not_found']);
    }
    expect((await stack.call('GET', '/orgs/elsewhere/rollouts', { token: other })).body.rollouts.map((r: any) => r.rolloutId)).toEqual([rest.rolloutId]);
  });
});
