import type { WorkspaceLeases } from '../ports.js';
import { WorkspaceBusy } from '../../shared/errors.js';
import { durableWrite, type RemainingTime } from './step.js';

/**
 * Operations on one workspace never interleave on its host (SPEC §6): the step that first touches
 * the host takes the workspace lease, Record or RecordFailure frees it. A busy workspace is a
 * transient error the workflow retries with backoff.
 */
export async function holdWorkspace(
  leases: WorkspaceLeases,
  operation: { operationId: string; workspace: { id: string } },
  ttlMs: number,
  remainingMs?: RemainingTime,
): Promise<void> {
  if (!(await durableWrite(() => leases.acquire(operation.workspace.id, operation.operationId, ttlMs), remainingMs))) {
    throw new WorkspaceBusy(`workspace "${operation.workspace.id}" is busy with another plugin operation`);
  }
}
