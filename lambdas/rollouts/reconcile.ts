import type { Log } from '../shared/logger.js';
import type { ExecutionReader } from '../use-cases/reconcile.js';

/**
 * A rollout outlives any one driver execution (hand-overs, a resume), and a driver can be lost with
 * its engine (`kill -9` of the local stack) or end without ending its rollout. Each sweep, a RUNNING
 * rollout whose last driver execution no longer runs gets a new driver, which carries on from the
 * ledger: nothing is started twice (each target's operation has the rollout's idempotency key) and
 * nothing is forgotten (pending targets stay pending until a driver starts them).
 */
export interface RolloutReconcileDeps {
  rollouts: { running(olderThanMs: number, limit: number): Promise<Array<{ id: string; executionArn: string | null; staged: boolean }>> };
  executions: ExecutionReader;
  driver: { start(rollout: { id: string }, state: { phase: 'prepare' | 'tick' }): Promise<void> };
  log: Log;
}

export async function reconcileRollouts(deps: RolloutReconcileDeps, opts: { graceMs: number; batch: number }): Promise<string[]> {
  const restarted: string[] = [];
  for (const rollout of await deps.rollouts.running(opts.graceMs, opts.batch)) {
    const execution = rollout.executionArn ? await deps.executions.describe(rollout.executionArn) : null;
    if (execution?.status === 'RUNNING') continue;
    await deps.driver.start({ id: rollout.id }, { phase: rollout.staged ? 'tick' : 'prepare' });
    deps.log.warn('rollout driver restarted', { rolloutId: rollout.id, lostExecution: rollout.executionArn, executionStatus: execution?.status ?? 'none' });
    restarted.push(rollout.id);
  }
  return restarted;
}
