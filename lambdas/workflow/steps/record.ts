import type { Config } from '../../shared/config.js';
import { ERROR_STATUS, type ErrorRecord } from '../../shared/errors.js';
import { emitMetric, METRIC } from '../../shared/metrics.js';
import type { Repair } from '../../shared/types.js';
import type { InstalledRecords, KeptTarballs, StepPorts } from '../ports.js';
import { Settled, type DeliveredState, type VerifiedState } from './state.js';
import { defineStep, durableWrite, type RemainingTime } from './step.js';
import { unhealthyMessage } from './verify-health.js';

export interface RecordDeps {
  ports: StepPorts;
  tarballs: KeptTarballs;
  config: Pick<Config, 'revisionsKept'>;
}

/**
 * Record: the database follows the host, the operation is closed and the workspace freed. A
 * delivery becomes a revision (SPEC §9) whose tarball is kept; a rollback makes its revision active
 * again. When the health gate found the agent unhealthy, the host already put back what was there:
 * the revision is recorded `rolled_back`, the records stay as they were, and the operation fails
 * `health_check_failed` (the workflow then ends in its Fail state). A repair (SPEC §12) keeps what
 * it changed on the operation, and its workspace is verified first by the next sweep.
 */
export function recordStep(deps: RecordDeps) {
  const { ports } = deps;
  return defineStep('Record', ports.operations, Settled, async (state, log, remainingMs) => {
    if (state.kind === 'uninstall') {
      await durableWrite(async () => {
        await ports.installed.forget(state.workspace.id, state.plugin);
        await ports.revisions.markRemoved(state.workspace.id, state.plugin);
      }, remainingMs);
    } else if (state.kind === 'repair') {
      // A repair recorded what it adopted itself; a reinstall leaves the active revisions as they were.
      const health = state.phase === 'verified' ? state.health : null;
      if (health?.healthy === false) {
        const error = healthFailure({ kind: state.kind, health });
        await durableWrite(() => ports.operations.finish(state.operationId, 'FAILED', error), remainingMs);
        await durableWrite(() => ports.leases.release(state.workspace.id, state.operationId), remainingMs);
        log.warn('operation failed', { code: error.code, rolledBack: error.rolledBack });
        await emitMetric(METRIC.OperationsFailed, 1, { errorCode: error.code }, { alsoWithoutDimensions: true });
        return { state };
      }
      const { plugins, debris } = state.repaired;
      const repair: Repair = { status: 'repaired', operationId: state.operationId, mode: state.repair.mode, plugins, debris, restarted: state.restarted };
      await durableWrite(() => ports.operations.repaired(state.operationId, repair), remainingMs);
      await durableWrite(() => ports.drift.repaired(state.workspace.id), remainingMs);
    } else {
      const verified: VerifiedState = state.phase === 'verified' ? state : { ...state, phase: 'verified', health: null };
      if (verified.health?.healthy === false) {
        await recordRevision(deps, verified, 'rolled_back', remainingMs);
        const error = healthFailure(verified);
        await durableWrite(() => ports.operations.finish(state.operationId, 'FAILED', error), remainingMs);
        await durableWrite(() => ports.leases.release(state.workspace.id, state.operationId), remainingMs);
        log.warn('operation failed', { code: error.code, rolledBack: error.rolledBack });
        await emitMetric(METRIC.OperationsFailed, 1, { errorCode: error.code }, { alsoWithoutDimensions: true });
        return { state };
      }
      await recordRevision(deps, verified, 'active', remainingMs);
      await durableWrite(() => recordDelivered(ports.installed, verified), remainingMs);
    }
    await durableWrite(() => ports.operations.finish(state.operationId, 'SUCCEEDED'), remainingMs);
    await durableWrite(() => ports.leases.release(state.workspace.id, state.operationId), remainingMs);
    await emitMetric(METRIC.OperationsSucceeded, 1, { kind: state.kind }, { alsoWithoutDimensions: true });
    return { state };
  });
}

/**
 * What a delivery that reached the host makes of the revisions: an install adds one (its tarball
 * kept first, so a revision the records call kept has its tarball); a rollback that held makes
 * its revision active again. Also RecordFailure's, when a step after Deliver failed.
 */
export async function recordRevision(
  deps: RecordDeps,
  state: Omit<DeliveredState, 'phase'>,
  status: 'active' | 'rolled_back',
  remainingMs?: RemainingTime,
): Promise<void> {
  const { staged, workspace } = state;
  if (state.kind === 'rollback') {
    const revision = state.revision;
    if (status === 'active' && revision !== undefined) {
      await durableWrite(() => deps.ports.revisions.reactivate(workspace.id, staged.name, revision, state.operationId), remainingMs);
    }
    return;
  }
  await deps.tarballs.keep({ bucket: staged.bucket, key: staged.key }, staged.sha256);
  await durableWrite(
    () =>
      deps.ports.revisions.add({
        workspaceId: workspace.id,
        plugin: staged.name,
        operationId: state.operationId,
        version: staged.version,
        source: state.source,
        sha256: staged.sha256,
        skills: staged.skills,
        runtimes: staged.runtimes,
        status,
        keep: deps.config.revisionsKept,
      }),
    remainingMs,
  );
}

function healthFailure(state: { kind: string; health: VerifiedState['health'] }): ErrorRecord & { code: 'health_check_failed' } {
  const rolledBack = state.health?.rolledBack ?? false;
  return {
    code: 'health_check_failed',
    message: unhealthyMessage(state.kind, rolledBack),
    httpStatus: ERROR_STATUS.health_check_failed,
    rolledBack,
    output: state.health?.output ?? [],
  };
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
