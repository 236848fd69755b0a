import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '../../lambdas/shared/errors.js';
import { useLocalStack, type SpawnedStack } from '../support/local-stack.js';

/**
 * The whole workflow of `npm start` through the faults AWS shows under trouble
 * (MOLECULE_LOCAL_FAULTS, which reaches the emulators of its process), seeded so every run rolls the same faults. Throttling and lost
 * invocations are retried until they pass; a storage that always fails ends every install with a
 * documented code and leaves the hosts as they were. No speed is asserted: the bound only stops a
 * stuck run.
 */
const PLUGINS = ['code-review-rules', 'hello-skill', 'safe-shell-hook', 'code-review-rules'];
const WORKSPACES = [
  { id: 'ws-f1', instanceId: 'i-0f00000000000f001', transport: 'ssm' },
  { id: 'ws-f2', instanceId: 'i-0f00000000000f002', transport: 'ssm' },
  { id: 'ws-f3', instanceId: 'i-0f00000000000f003', transport: 'auto' },
  { id: 'ws-f4', instanceId: 'i-0f00000000000f004', transport: 'eic' },
  { id: 'ws-f5', instanceId: 'i-0f00000000000f005', transport: 'eic' },
] as const;
const TERMINAL_BOUND_MS = 8 * 60_000;

async function setUp(stack: SpawnedStack): Promise<string> {
  for (const ws of WORKSPACES) {
    const put = await stack.call('PUT', `/admin/workspaces/${ws.id}`, {
      token: stack.adminToken,
      body: { orgId: 'acme', runtime: 'claude-code', instanceId: ws.instanceId, transport: ws.transport },
    });
    expect(put.status, JSON.stringify(put.body)).toBeLessThan(300);
  }
  const minted = await stack.call('POST', '/admin/orgs/acme/tokens', { token: stack.adminToken });
  expect(minted.status).toBeLessThan(300);
  return minted.body.token as string;
}

/** Starts every install at once (4 per workspace, so they also queue on the workspace lease). */
async function installEverywhere(stack: SpawnedStack, token: string): Promise<Array<{ workspaceId: string; plugin: string; statusUrl: string }>> {
  const requests = WORKSPACES.flatMap((ws) => PLUGINS.map((plugin) => ({ workspaceId: ws.id, plugin })));
  return Promise.all(
    requests.map(async (request) => {
      const res = await stack.call('POST', `/workspaces/${request.workspaceId}/plugins`, { token, body: { source: `local://${request.plugin}` } });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      return { ...request, statusUrl: res.body.statusUrl as string };
    }),
  );
}

async function terminal(stack: SpawnedStack, token: string, statusUrl: string): Promise<{ status: string; error?: { code: string } }> {
  const until = Date.now() + TERMINAL_BOUND_MS;
  for (;;) {
    const res = await stack.call('GET', statusUrl, { token });
    if (res.status === 200 && (res.body.status === 'SUCCEEDED' || res.body.status === 'FAILED')) return res.body;
    if (Date.now() > until) throw new Error(`operation still ${res.body?.status ?? res.status} at the bound: ${JSON.stringify(res.body)}`);
    await sleep(500);
  }
}

describe('20 installs across 5 workspaces (SSM and EIC) under throttling and lost invocations', () => {
  const stack = useLocalStack({
    MOLECULE_LOCAL_FAULTS: 'ssm.throttle=0.3,ec2.throttle=0.3,eic.throttle=0.3,ssm.lost_invocation=0.2',
    MOLECULE_LOCAL_FAULTS_SEED: '20261201',
  });

  it(
    'all succeed, and every plugin is on its host',
    async () => {
      const token = await setUp(stack);
      const installs = await installEverywhere(stack, token);

      const outcomes = await Promise.all(installs.map((install) => terminal(stack, token, install.statusUrl)));

      expect(outcomes.map((o) => o.status)).toEqual(installs.map(() => 'SUCCEEDED'));
      for (const ws of WORKSPACES) {
        for (const plugin of new Set(PLUGINS)) {
          expect(existsSync(join(stack.localDir, 'instances', ws.instanceId, 'configs', 'plugins', plugin)), `${ws.id} ${plugin}`).toBe(true);
        }
        const listed = await stack.call('GET', `/workspaces/${ws.id}/plugins`, { token });
        expect(JSON.stringify(listed.body)).toContain('hello-skill');
      }
    },
    TERMINAL_BOUND_MS + 60_000,
  );
});

describe('installs while S3 always fails', () => {
  const stack = useLocalStack({ MOLECULE_LOCAL_FAULTS: 's3.error=1', MOLECULE_LOCAL_FAULTS_SEED: '20261201' });

  // The faults reach the emulators of `npm start`'s process, armed once the stack is up.
  it('still starts (seeding is not faulted), says which faults are on, and the registry listing, read from S3, fails with an error body', async () => {
    expect(stack.output()).toContain('local emulators inject faults');
    expect(stack.output()).toContain('"s3.error":1');

    const listed = await stack.call('GET', '/plugins', { token: stack.adminToken });
    expect(listed.status).not.toBe(200);
    expect(listed.body).toMatchObject({ code: expect.any(String), error: expect.any(String) });
  });

  it(
    'each fails with a documented code, and no host changes',
    async () => {
      const token = await setUp(stack);
      const installs = await installEverywhere(stack, token);

      const outcomes = await Promise.all(installs.map((install) => terminal(stack, token, install.statusUrl)));

      for (const outcome of outcomes) {
        expect(outcome.status).toBe('FAILED');
        expect(Object.keys(ERROR_STATUS)).toContain(outcome.error?.code);
      }
      for (const ws of WORKSPACES) {
        expect(existsSync(join(stack.localDir, 'instances', ws.instanceId, 'configs', 'plugins')), ws.id).toBe(false);
      }
    },
    TERMINAL_BOUND_MS + 60_000,
  );
});
