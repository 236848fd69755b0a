import { randomBytes } from 'node:crypto';
import type { RolloutStart, WorkflowStarter } from '../use-cases/ports.js';

/** A rollout's driver executions: `rollout-<8 hex of its id>-<time in base 36><4 hex>`, unique per start. */
export function rolloutExecutionName(rolloutId: string): string {
  const hex = rolloutId
    .replace(/[^0-9a-f]/gi, '')
    .slice(0, 8)
    .toLowerCase();
  return `rollout-${hex}-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
}

/**
 * Starts a rollout's driver on the state machine (a new rollout, a resumed one, a hand-over, or a
 * driver lost with its engine) and records the execution, so the reconciler can tell a live driver
 * from a lost one.
 */
export function rolloutDriverStarter(workflow: WorkflowStarter, record: (rolloutId: string, executionArn: string) => Promise<void>) {
  return {
    start: async (rollout: { id: string }, state: Partial<RolloutStart> = {}) => {
      const executionArn = await workflow.start(rolloutExecutionName(rollout.id), { phase: 'prepare', ...state, kind: 'rollout', rolloutId: rollout.id });
      await record(rollout.id, executionArn);
    },
  };
}
