import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Db } from '../../store/db.js';
import { deleteInstalled, markUninstallFailed } from '../../store/installed.js';
import { setRestartPending } from '../../store/workspaces.js';
import { releaseLease } from '../../store/leases.js';
import { finishOperation } from '../../store/operations.js';
import { errorFromStepFailure } from '../../shared/errors.js';
import { forOperation } from '../../shared/logger.js';
import type { WorkflowState } from '../../shared/types.js';
import { recordDelivered } from './record.js';

/**
 * RecordFailure (the Catch target of every step): brings the database in line with the host,
 * closes the operation with the documented error code, removes the staged object and frees the
 * workspace. A failed delivery already restored the host's previous version (the install script's job).
 */
export function recordFailureStep(deps: { db: Db; s3: S3Client }) {
  return async (state: WorkflowState): Promise<WorkflowState> => {
    const log = forOperation(state.operationId, { step: 'RecordFailure', workspaceId: state.workspace.id });
    const error = errorFromStepFailure(state.error);
    log.warn('operation failed', { code: error.code, stepError: state.error?.Error });
    // Before the operation reads as finished, so a client that saw FAILED reads rows matching the host.
    await recordHostChange(deps.db, state).catch((err: Error) => {
      log.error('could not record what the host has after the failure', { error: err.message });
    });
    await finishOperation(deps.db, state.operationId, 'FAILED', error);
    if (state.staged) {
      await deps.s3.send(new DeleteObjectCommand({ Bucket: state.staged.bucket, Key: state.staged.key })).catch((err: Error) => {
        log.warn('could not delete the staged object; the bucket lifecycle will', { error: err.message });
      });
    }
    await releaseLease(deps.db, state.workspace.id, state.operationId);
    return state;
  };
}

/**
 * When a step after the host changed failed (Restart, or Record itself), the database follows the
 * host: the delivered plugin is recorded, a removed one forgotten, and a restart that did not
 * happen is owed by the next change. A failed uninstall that left the plugin in place is marked
 * for the cleanup to retry.
 */
async function recordHostChange(db: Db, state: WorkflowState): Promise<void> {
  const hostChanged = (state.kind === 'install' && state.delivered) || (state.kind === 'uninstall' && state.removed);
  if (hostChanged && state.restart && state.restarted === undefined) await setRestartPending(db, state.workspace.id, true);
  if (state.kind === 'install') {
    if (state.delivered) await recordDelivered(db, state);
  } else if (state.plugin) {
    if (state.removed) await deleteInstalled(db, state.workspace.id, state.plugin);
    else await markUninstallFailed(db, state.workspace.id, state.plugin);
  }
}
