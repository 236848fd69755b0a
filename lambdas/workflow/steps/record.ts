import type { Db } from '../../store/db.js';
import { deleteInstalled, upsertInstalled } from '../../store/installed.js';
import { releaseLease } from '../../store/leases.js';
import { finishOperation } from '../../store/operations.js';
import { Restarted, type DeliveredState } from './state.js';
import { defineStep, durableWrite } from './step.js';
import { emitMetric, METRIC } from '../../shared/metrics.js';

/** Record: the host now matches the request, so the database says so and the workspace is freed. */
export function recordStep(deps: { db: Db }) {
  return defineStep('Record', deps.db, Restarted, async (state, _log, remainingMs) => {
    await durableWrite(async () => {
      if (state.kind === 'install') await recordDelivered(deps.db, state);
      else await deleteInstalled(deps.db, state.workspace.id, state.plugin);
    }, remainingMs);
    await durableWrite(() => finishOperation(deps.db, state.operationId, 'SUCCEEDED'), remainingMs);
    await durableWrite(() => releaseLease(deps.db, state.workspace.id, state.operationId), remainingMs);
    await emitMetric(METRIC.OperationsSucceeded, 1, { kind: state.kind }, { alsoWithoutDimensions: true });
    return { state };
  });
}

/** The plugin the host now has: written by Record, and by RecordFailure when a later step failed. */
export async function recordDelivered(db: Db, state: Omit<DeliveredState, 'phase'>): Promise<void> {
  const { staged } = state;
  await upsertInstalled(db, {
    workspaceId: state.workspace.id,
    name: staged.name,
    version: staged.version,
    source: state.source,
    sha256: staged.sha256,
    skills: staged.skills,
    runtimes: staged.runtimes,
    uninstallAt: state.uninstallAt,
  });
}
