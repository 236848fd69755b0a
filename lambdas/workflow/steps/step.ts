import type { Db } from '../../store/db.js';
import { stepEnded, stepStarted } from '../../store/operations.js';
import { forOperation, type Log } from '../../shared/logger.js';
import type { StepRecord, WorkflowState } from '../../shared/types.js';

export type StepOutcome = { state: WorkflowState; status?: StepRecord['status'] };
export type StepBody = (state: WorkflowState, log: Log) => Promise<StepOutcome>;

/**
 * Wraps one workflow step: records it on the operation (RUNNING, then SUCCEEDED / SKIPPED /
 * FAILED) and logs with the operation id. A failure is re-thrown unchanged so Step Functions
 * sees its `name` for Retry and Catch.
 */
export function defineStep(name: string, db: Db, body: StepBody): (state: WorkflowState) => Promise<WorkflowState> {
  return async (state) => {
    const log = forOperation(state.operationId, { step: name, workspaceId: state.workspace.id });
    await stepStarted(db, state.operationId, name);
    const started = Date.now();
    try {
      const outcome = await body(state, log);
      await stepEnded(db, state.operationId, name, outcome.status ?? 'SUCCEEDED');
      log.info('step finished', { status: outcome.status ?? 'SUCCEEDED', ms: Date.now() - started });
      return outcome.state;
    } catch (err) {
      const e = err as Error;
      log.warn('step failed', { error: e.name, reason: e.message, ms: Date.now() - started });
      await stepEnded(db, state.operationId, name, 'FAILED').catch(() => undefined);
      throw err;
    }
  };
}
