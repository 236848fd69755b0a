import { describe, expect, it } from 'vitest';
import { rolloutStep } from '../../../lambdas/rollouts/step.js';
import type { DriverPorts } from '../../../lambdas/rollouts/driver.js';

/** The RolloutFailed branch of the rollout's Lambda: what ends a rollout and what leaves it to a new driver. */
function ports(finished: string[]): DriverPorts {
  const never = async () => {
    throw new Error('not used');
  };
  return {
    rollouts: {
      get: never,
      targets: never,
      settle: never,
      markParentRolledBack: never,
      skip: never,
      markStarted: never,
      finish: async (id, status) => {
        finished.push(`${id}:${status}`);
        return true;
      },
      setStaged: never,
      staged: never,
    },
    workspaces: { get: never },
    installed: { get: never },
    allowlist: { match: never },
    stage: never,
    startTarget: never,
  };
}

describe('a rollout driver that failed', () => {
  const failed = (error: string) => ({ kind: 'rollout', rolloutId: 'r-1', phase: 'tick', error: { Error: error, Cause: '{"errorMessage":"x"}' } });

  it('ends the rollout FAILED on an error that does not pass', async () => {
    const finished: string[] = [];
    await rolloutStep({ ports: ports(finished), continueIn: async () => {}, tickSeconds: 1, handOver: { ticks: 10, afterMs: 60_000 } })(
      failed('DeliveryFailed'),
    );
    expect(finished).toEqual(['r-1:FAILED']);
  });

  it('leaves it RUNNING after a database outage or throttling that outlasted the retries, for the reconciler to drive again', async () => {
    for (const error of ['PlatformUnavailable', 'AwsThrottled', 'Lambda.TooManyRequestsException']) {
      const finished: string[] = [];
      await rolloutStep({ ports: ports(finished), continueIn: async () => {}, tickSeconds: 1, handOver: { ticks: 10, afterMs: 60_000 } })(failed(error));
      expect(finished, error).toEqual([]);
    }
  });
});
