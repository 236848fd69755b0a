import * as z from '../../shared/zod.js';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../shared/config.js';
import type { KeptTarballs, StepPorts } from '../ports.js';
import { errorFromStepFailure, PlatformUnavailable } from '../../shared/errors.js';
import { forOperation, type Log } from '../../shared/logger.js';
import { emitMetric, METRIC } from '../../shared/metrics.js';
import { recordDelivered, recordRevision, type RecordDeps } from './record.js';
import { StepFailure, WorkflowDocument, type WorkflowPhase } from './state.js';
import { durableWrite, parseInput, type StepHandler } from './step.js';

/** All RecordFailure must have to close the operation, whatever else the failed state holds. */
const FailedOperation = z.object({
  operationId: z.string().check(z.minLength(1)),
  workspace: z.object({ id: z.string().check(z.minLength(1)) }),
  error: z.optional(StepFailure),
});

/**
 * RecordFailure (the Catch target of every step): brings the database in line with the host,
 * closes the operation with the documented error code, removes the staged object and frees the
 * workspace. A failed delivery already restored the host's previous version (the install script's job).
 * A state no step could take (an unknown kind, a malformed document) still closes its operation.
 * Every write rides out a database outage (a failover) within the invocation's time, and the
 * workflow retries the whole step after that, so the operation is closed once the database is back.
 */
export function recordFailureStep(deps: {
  ports: StepPorts;
  s3: S3Client;
  tarballs: KeptTarballs;
  config: Pick<Config, 'revisionsKept'>;
}): StepHandler<unknown> {
  return async (event, invocation) => {
    const remainingMs = invocation && (() => invocation.getRemainingTimeInMillis());
    const failed = parseInput('RecordFailure', FailedOperation, event);
    const attempt = await durableWrite(() => deps.ports.operations.stepStarted(failed.operationId, 'RecordFailure'), remainingMs);
    const plugin = typeof (event as { plugin?: unknown }).plugin === 'string' ? (event as { plugin: string }).plugin : null;
    const log = forOperation(failed.operationId, { step: 'RecordFailure', workspaceId: failed.workspace.id, plugin, attempt });
    const error = errorFromStepFailure(failed.error);
    log.warn('operation failed', { code: error.code, stepError: failed.error?.Error });
    const document = WorkflowDocument.safeParse(event);
    if (document.success) {
      // Before the operation reads as finished, so a client that saw FAILED reads rows matching the host.
      const state = document.data;
      await durableWrite(() => recordHostChange(deps, state), remainingMs).catch((err: Error) => {
        // An outage that outlasted the retries fails the step, which the workflow retries whole.
        if (err instanceof PlatformUnavailable) throw err;
        log.error('could not record what the host has after the failure', { error: err.message });
      });
    } else {
      log.warn('the failed state is not a workflow document; nothing on the host to record', {
        fields: document.error.issues.map((issue) => issue.path.join('.')),
      });
    }
    // The failed step keeps the error it recorded; a step left running (its invocation died) gets this one.
    await durableWrite(() => deps.ports.operations.finish(failed.operationId, 'FAILED', error, 'RecordFailure'), remainingMs);
    // A rollback's tarball is a kept revision's, never deleted here; only what this operation staged goes.
    if (document.success && 'staged' in document.data && document.data.staged.key.startsWith('staged/')) {
      await deleteStaged(deps.s3, document.data.staged, log);
    }
    await durableWrite(() => deps.ports.leases.release(failed.workspace.id, failed.operationId), remainingMs);
    await emitMetric(METRIC.OperationsFailed, 1, { errorCode: error.code }, { alsoWithoutDimensions: true });
    return event;
  };
}

/**
 * When a step after the host changed failed (Restart, VerifyHealth, or Record itself), the
 * database follows the host: the delivered plugin is recorded with its revision, a removed one
 * forgotten, and a restart that did not happen is owed by the next change. A health gate that
 * reached its verdict already put the host back when unhealthy. A failed uninstall that left the
 * plugin in place is marked for the cleanup to retry.
 */
async function recordHostChange(deps: RecordDeps, state: WorkflowPhase): Promise<void> {
  const { installed, restarts, revisions } = deps.ports;
  if (state.kind === 'repair') return repairFailed(deps, state);
  switch (state.phase) {
    case 'accepted':
      if (state.kind === 'uninstall' && state.plugin) await installed.markUninstallFailed(state.workspace.id, state.plugin);
      return;
    case 'staged':
      return;
    case 'delivered':
      if (state.restart) await restarts.setOwed(state.workspace.id, true);
      await recordRevision(deps, state, 'active');
      await recordDelivered(installed, state);
      return;
    case 'removed':
      if (state.restart) await restarts.setOwed(state.workspace.id, true);
      await installed.forget(state.workspace.id, state.plugin);
      await revisions.markRemoved(state.workspace.id, state.plugin);
      return;
    case 'restarted':
      if (state.kind === 'uninstall') {
        await installed.forget(state.workspace.id, state.plugin);
        await revisions.markRemoved(state.workspace.id, state.plugin);
        return;
      }
      await recordRevision(deps, state, 'active');
      await recordDelivered(installed, state);
      return;
    case 'verified':
      if (state.health?.healthy === false) {
        await recordRevision(deps, state, 'rolled_back');
        return;
      }
      await recordRevision(deps, state, 'active');
      await recordDelivered(installed, state);
      return;
  }
}

/**
 * A repair that failed once it started changing the host (SPEC §12): a reinstall may have
 * delivered some plugins before one failed, so it owes the workspace its restart; the records need
 * nothing (a reinstall delivers the active revisions, an adoption records each plugin as it goes).
 * Whatever it got to, the next sweep verifies the workspace first.
 */
async function repairFailed(deps: RecordDeps, state: WorkflowPhase): Promise<void> {
  if (!('targets' in state) || state.phase === 'inventoried') return;
  const restartMissed = state.phase === 'prepared' || state.phase === 'repaired';
  if (restartMissed && state.targets.reinstall.length > 0 && state.restart) await deps.ports.restarts.setOwed(state.workspace.id, true);
  await deps.ports.drift.repaired(state.workspace.id);
}

async function deleteStaged(s3: S3Client, staged: { bucket: string; key: string }, log: Log): Promise<void> {
  // Imported here, not at the top: every step bundle carries this module, but only RecordFailure sends this.
  const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
  await s3.send(new DeleteObjectCommand({ Bucket: staged.bucket, Key: staged.key })).catch((err: Error) => {
    log.warn('could not delete the staged object; the bucket lifecycle will', { error: err.message });
  });
}
