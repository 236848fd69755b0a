import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useLocalStack } from '../support/local-stack.js';
import { FakeCodeload } from '../support/codeload.js';
import { pluginEntries, tarGz } from '../support/archives.js';

/**
 * SPEC §7 and §8: `npm start` runs the Cleanup handler on PLUGIN_CLEANUP_INTERVAL by itself, and
 * issue #7 item 4's acceptance: with PLUGIN_CLEANUP_INTERVAL=5s, a plugin installed with
 * `uninstallAfter: PT2S` is gone without any admin call, even while another install runs on that
 * workspace. The issue asks for 20 s; the bound here is 60 s so a loaded machine does not fail it,
 * and the time it took is logged. One stack for both workspaces.
 */
const DUE_INSTANCE = 'i-05c4ed000000000b2';
const SCHED_INSTANCE = 'i-05c4ed000000000a1';
const codeload = new FakeCodeload();
let releaseSlowSource: () => void = () => undefined;
const slowSourceReleased = new Promise<void>((resolve) => (releaseSlowSource = resolve));

beforeAll(() => codeload.start());
afterAll(async () => {
  releaseSlowSource();
  await codeload.stop();
});

// The drift sweep rides the same schedule; these tests count each workspace's operations, so it is off.
const stack = useLocalStack(() => ({ GITHUB_CODELOAD_URL: codeload.url, PLUGIN_CLEANUP_INTERVAL: '5s', PLUGIN_DRIFT_SWEEP_BATCH: '0' }));
let dueOrg = '';
let schedOrg = '';

beforeAll(async () => {
  const admin = { token: stack.adminToken };
  await stack.call('PUT', '/admin/workspaces/w-due', { ...admin, body: { orgId: 'due', runtime: 'claude-code', instanceId: DUE_INSTANCE } });
  dueOrg = (await stack.call('POST', '/admin/orgs/due/tokens', admin)).body.token;
  await stack.call('PUT', '/admin/workspaces/w-sched', { ...admin, body: { orgId: 'sched', runtime: 'claude-code', instanceId: SCHED_INSTANCE } });
  schedOrg = (await stack.call('POST', '/admin/orgs/sched/tokens', admin)).body.token;
  // A source that answers only once the tests are over: an install that stays running throughout.
  codeload.set('acme/slow', 'v1', async () => {
    await slowSourceReleased;
    return tarGz(pluginEntries({ 'plugin.yaml': 'name: slow\n', 'rules/slow.md': 'Slow.\n' }, 'slow-v1'));
  });
});

describe('the scheduled cleanup on npm start', () => {
  it('uninstalls a plugin once its uninstallAfter has passed, without any admin call', { timeout: 90_000 }, async () => {
    const installed = await stack.call('POST', '/workspaces/w-sched/plugins', {
      token: schedOrg,
      body: { source: 'local://hello-skill', uninstallAfter: 'PT1S' },
      headers: { prefer: 'wait=20' },
    });
    expect(installed.status).toBe(200);
    const pluginDir = join(stack.localDir, 'instances', SCHED_INSTANCE, 'configs', 'plugins', 'hello-skill');
    expect(existsSync(pluginDir)).toBe(true);

    let listed: Array<{ name: string }> = [{ name: 'hello-skill' }];
    for (let i = 0; i < 600 && listed.length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      listed = (await stack.call('GET', '/workspaces/w-sched/plugins', { token: schedOrg })).body;
    }
    expect(listed).toEqual([]);
    expect(existsSync(pluginDir)).toBe(false);
    const ops = (await stack.call('GET', '/operations?workspaceId=w-sched', { token: stack.adminToken })).body as Array<{ kind: string; status: string }>;
    expect(ops.map((op) => `${op.kind} ${op.status}`)).toEqual(['uninstall SUCCEEDED', 'install SUCCEEDED']);
  });

  it('uninstalls a plugin whose uninstallAfter passed, without an admin call, while another install runs there', async () => {
    const installed = await stack.call('POST', '/workspaces/w-due/plugins', {
      token: dueOrg,
      body: { source: 'local://hello-skill', uninstallAfter: 'PT2S' },
      headers: { prefer: 'wait=20' },
    });
    expect(installed.status).toBe(200);
    const installedAt = Date.now();
    const pluginDir = join(stack.localDir, 'instances', DUE_INSTANCE, 'configs', 'plugins', 'hello-skill');
    expect(existsSync(pluginDir)).toBe(true);

    const other = await stack.call('POST', '/workspaces/w-due/plugins', { token: dueOrg, body: { source: 'github://acme/slow#v1' } });
    expect(other).toMatchObject({ status: 202, body: { status: 'installing' } });

    let listed: Array<{ name: string }> = [{ name: 'hello-skill' }];
    const deadline = installedAt + 60_000;
    while (listed.some((p) => p.name === 'hello-skill') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      listed = (await stack.call('GET', '/workspaces/w-due/plugins', { token: dueOrg })).body;
    }
    console.log(`scheduled uninstall: gone ${((Date.now() - installedAt) / 1000).toFixed(1)} s after the install (issue #7 asks for 20 s)`);
    expect(listed).toEqual([]);
    expect(existsSync(pluginDir)).toBe(false);

    const ops = (await stack.call('GET', '/operations?workspaceId=w-due', { token: stack.adminToken })).body as Array<{
      kind: string;
      status: string;
      plugin: string | null;
    }>;
    expect(ops.map((op) => `${op.kind} ${op.plugin ?? '?'} ${op.status}`).sort()).toEqual([
      'install ? RUNNING',
      'install hello-skill SUCCEEDED',
      'uninstall hello-skill SUCCEEDED',
    ]);
  }, 90_000);
});
