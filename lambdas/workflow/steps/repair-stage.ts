import { Inventoried, type PreparedState } from './state.js';
import { keepRevisionTarball, type StageDeps } from './stage.js';
import { defineStep } from './step.js';

/**
 * Stage for a repair (SPEC §12), the state `RepairStage` of the Stage function: every revision a
 * reinstall delivers again must have its tarball kept, staged again from its recorded source
 * pinned to its sha256 when it is not, as for a rollback (410 revision_expired when the source no
 * longer gives those bytes; nothing on the host has changed then). Adopt and clean stage nothing.
 */
export function repairStageStep(deps: StageDeps) {
  return defineStep('Stage', deps.ports.operations, Inventoried, async (state, log) => {
    const fetchDeadline = state.requestedAt ? new Date(Date.parse(state.requestedAt) + deps.config.limits.fetchTimeoutMs) : undefined;
    for (const target of state.targets.reinstall) {
      await keepRevisionTarball(
        deps,
        { plugin: target.name, revision: target.revision, source: target.source, sha256: target.sha256 },
        state.operationId,
        log,
        fetchDeadline,
      );
    }
    const next: PreparedState = { ...state, phase: 'prepared' };
    return { state: next, ...(state.targets.reinstall.length === 0 ? { status: 'SKIPPED' as const } : {}) };
  });
}
