import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Db } from '../../store/db.js';
import { markUninstallFailed } from '../../store/installed.js';
import { releaseLease } from '../../store/leases.js';
import { finishOperation } from '../../store/operations.js';
import { errorFromStepFailure } from '../../shared/errors.js';
import { forOperation } from '../../shared/logger.js';
import type { WorkflowState } from '../../shared/types.js';

/**
 * RecordFailure (the Catch target of every step): closes the operation with the documented error
 * code, removes the staged object, marks a failed uninstall for the cleanup to retry, and frees
 * the workspace. The host already restored its previous version (the install script's job).
 */
export function recordFailureStep(deps: { db: Db; s3: S3Client }) {
  return async (state: WorkflowState): Promise<WorkflowState> => {
    const log = forOperation(state.operationId, { step: 'RecordFailure', workspaceId: state.workspace.id });
    const error = errorFromStepFailure(state.error);
    log.warn('operation failed', { code: error.code, stepError: state.error?.Error });
    await finishOperation(deps.db, state.operationId, 'FAILED', error);
    if (state.staged) {
      await deps.s3.send(new DeleteObjectCommand({ Bucket: state.staged.bucket, Key: state.staged.key })).catch((err: Error) => {
        log.warn('could not delete the staged object; the bucket lifecycle will', { error: err.message });
      });
    }
    if (state.kind === 'uninstall' && state.plugin) await markUninstallFailed(deps.db, state.workspace.id, state.plugin);
    await releaseLease(deps.db, state.workspace.id, state.operationId);
    return state;
  };
}
