import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useLocalStack } from '../support/local-stack.js';

/** SPEC §7 and §8: `npm start` runs the Cleanup handler on PLUGIN_CLEANUP_INTERVAL by itself. */
const INSTANCE = 'i-05c4ed000000000a1';
const stack = useLocalStack({ PLUGIN_CLEANUP_INTERVAL: '1s' });
let org = '';

beforeAll(async () => {
  await stack.call('PUT', '/admin/workspaces/w-sched', { token: stack.adminToken, body: { orgId: 'sched', runtime: 'claude-code', instanceId: INSTANCE } });
  org = (await stack.call('POST', '/admin/orgs/sched/tokens', { token: stack.adminToken })).body.token;
});

describe('the local cleanup schedule', () => {
  it('uninstalls a plugin once its uninstallAfter has passed, without any admin call', { timeout: 90_000 }, async () => {
    const installed = await stack.call('POST', '/workspaces/w-sched/plugins', {
      token: org,
      body: { source: 'local://hello-skill', uninstallAfter: 'PT1S' },
      headers: { prefer: 'wait=20' },
    });
    expect(installed.status).toBe(200);
    const pluginDir = join(stack.localDir, 'instances', INSTANCE, 'configs', 'plugins', 'hello-skill');
    expect(existsSync(pluginDir)).toBe(true);

    let listed: Array<{ name: string }> = [{ name: 'hello-skill' }];
    for (let i = 0; i < 600 && listed.length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      listed = (await stack.call('GET', '/workspaces/w-sched/plugins', { token: org })).body;
    }
    expect(listed).toEqual([]);
    expect(existsSync(pluginDir)).toBe(false);
    const ops = (await stack.call('GET', '/operations?workspaceId=w-sched', { token: stack.adminToken })).body as Array<{ kind: string; status: string }>;
    expect(ops.map((op) => `${op.kind} ${op.status}`)).toEqual(['uninstall SUCCEEDED', 'install SUCCEEDED']);
  });
});
