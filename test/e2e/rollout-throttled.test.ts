import { describe, expect, it } from 'vitest';
import { useLocalStack } from '../support/local-stack.js';
import { peakOverlap } from '../../bench/lib/stats.js';

/**
 * SPEC §10 under trouble: a rollout to 200 workspaces while SSM throttles three calls in ten
 * (`MOLECULE_LOCAL_FAULTS`, a fixed seed so the run repeats). Throttling is retried inside each
 * install; the rollout still reaches every workspace exactly once, and never more in flight than
 * maxConcurrency.
 */
const stack = useLocalStack({ MOLECULE_LOCAL_FAULTS: 'ssm.throttle=0.3', MOLECULE_LOCAL_FAULTS_SEED: '7' });
const COUNT = 200;

describe('a rollout while SSM throttles', () => {
  it('installs on all 200 workspaces, each once, within maxConcurrency', { timeout: 600_000 }, async () => {
    const admin = { token: stack.adminToken };
    for (let i = 0; i < COUNT; i++) {
      const id = `t${String(i).padStart(3, '0')}`;
      await stack.call('PUT', `/admin/workspaces/${id}`, {
        ...admin,
        body: { orgId: 'throttled', runtime: 'claude-code', instanceId: `i-0a11${String(i).padStart(12, '0')}` },
      });
    }
    const org = (await stack.call('POST', '/admin/orgs/throttled/tokens', admin)).body.token as string;
    const accepted = await stack.call('POST', '/orgs/throttled/rollouts', {
      token: org,
      body: { source: 'local://hello-skill', targets: { all: true }, maxConcurrency: 20, canary: 1 },
    });
    expect(accepted.status).toBe(202);
    let rollout: any;
    for (let i = 0; i < 2400; i++) {
      rollout = (await stack.call('GET', `/orgs/throttled/rollouts/${accepted.body.rolloutId}`, { token: org })).body;
      if (rollout.status !== 'RUNNING') break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(rollout.status).toBe('SUCCEEDED');
    expect(rollout.counts).toMatchObject({ total: COUNT, succeeded: COUNT, failed: 0, pending: 0, running: 0 });
    const operations = new Set(rollout.workspaces.map((w: { operationId: string }) => w.operationId));
    expect(operations.size).toBe(COUNT);

    // Peak in flight, from the operations' own timestamps.
    const spans: Array<[number, number]> = [];
    let throttledSteps = 0;
    for (const w of rollout.workspaces) {
      const op = (await stack.call('GET', `/operations/${w.operationId}`, admin)).body;
      spans.push([Date.parse(op.createdAt), Date.parse(op.updatedAt)]);
      for (const step of op.steps) throttledSteps += step.retries.filter((r: { error: string }) => r.error === 'AwsThrottled').length;
    }
    // The throttling did happen, and was ridden out.
    expect(throttledSteps).toBeGreaterThan(0);
    expect(peakOverlap(spans)).toBeLessThanOrEqual(20);
  });
});
