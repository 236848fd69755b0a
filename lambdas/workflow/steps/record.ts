import type { InstalledRecords, StepPorts } from '../ports.js';
import { Restarted, type DeliveredState } from './state.js';
import { defineStep, durableWrite } from './step.js';
import { emitMetric, METRIC } from '../../shared/metrics.js';

/** Record: the host now matches the request, so the database says so and the workspace is freed. */
export function recordStep({ ports }: { ports: StepPorts }) {
  return defineStep('Record', ports.operations, Restarted, async (state, _log, remainingMs) => {
    await durableWrite(async () => {
      if (state.kind === 'install') await recordDelivered(ports.installed, state);
      else await ports.installed.forget(state.workspace.id, state.plugin);
    }, remainingMs);
    await durableWrite(() => ports.operations.finish(state.operationId, 'SUCCEEDED'), remainingMs);
    await durableWrite(() => ports.leases.release(state.workspace.id, state.operationId), remainingMs);
    await emitMetric(METRIC.OperationsSucceeded, 1, { kind: state.kind }, { alsoWithoutDimensions: true });
    return { state };
  });
}

/** The plugin the host now has: written by Record, and by RecordFailure when a later step failed. */
export async function recordDelivered(installed: InstalledRecords, state: Omit<DeliveredState, 'phase'>): Promise<void> {
  const { staged } = state;
  await installed.record({
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
