import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '../../lambdas/shared/errors.js';
import { useLocalStack, type SpawnedStack } from '../support/local-stack.js';

/**
 * The whole workflow of `npm start` through the faults AWS shows under trouble
 * (MOLECULE_LOCAL_FAULTS), seeded so every run rolls the same faults. Throttling and lost
 * invocations are retried until they pass; a staging storage that fails half of its requests is
 * retried too, and what still fails ends with a documented code, never S3's own error. No speed is
 * asserted: the bound only stops a stuck run.
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

type Outcome = { status: string; error?: { code: string; message: string; httpStatus: number }; steps?: Array<{ name: string; attempts: number }> };

async function terminal(stack: SpawnedStack, token: string, statusUrl: string): Promise<Outcome> {
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

/** S3's own answer to a request it failed (local/s3.ts sends S3's document): never for a client to read. */
const S3_INTERNAL_ERROR_TEXT = 'We encountered an internal error';

describe('installs while S3 fails half of its requests', () => {
  const stack = useLocalStack({ MOLECULE_LOCAL_FAULTS: 's3.error=0.5', MOLECULE_LOCAL_FAULTS_SEED: '20261201' });

  it(
    "each succeeds (Stage retried where S3 failed it) or fails with a documented code, never a 500 or S3's own words",
    async () => {
      const token = await setUp(stack);
      const installs = await installEverywhere(stack, token);

      const outcomes = await Promise.all(installs.map((install) => terminal(stack, token, install.statusUrl)));

      const documented = Object.keys(ERROR_STATUS).filter((code) => code !== 'internal_error');
      for (const [i, outcome] of outcomes.entries()) {
        expect(JSON.stringify(outcome), installs[i]!.statusUrl).not.toContain(S3_INTERNAL_ERROR_TEXT);
        if (outcome.status === 'FAILED') {
          expect(documented, JSON.stringify(outcome.error)).toContain(outcome.error?.code);
          expect(outcome.error?.httpStatus, JSON.stringify(outcome.error)).not.toBe(500);
        } else {
          expect(outcome.status).toBe('SUCCEEDED');
          const { workspaceId, plugin } = installs[i]!;
          const ws = WORKSPACES.find((w) => w.id === workspaceId)!;
          expect(existsSync(join(stack.localDir, 'instances', ws.instanceId, 'configs', 'plugins', plugin)), `${workspaceId} ${plugin}`).toBe(true);
        }
      }
      // S3 failed some staging uploads: the workflow retried Stage rather than failing the install.
      const stageAttempts = outcomes.map((o) => o.steps?.find((step) => step.name === 'Stage')?.attempts ?? 0);
      expect(Math.max(...stageAttempts), JSON.stringify(stageAttempts)).toBeGreaterThan(1);
      expect(outcomes.some((o) => o.status === 'SUCCEEDED')).toBe(true);
    },
    TERMINAL_BOUND_MS + 60_000,
  );
});
