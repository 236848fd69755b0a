import type { CleanupCandidate } from '../store/installed.js';
import type { Log } from '../shared/logger.js';
import type { InstalledStore, OperationPorts, WorkspaceStore } from './ports.js';
import { startOperation } from './start.js';

export interface CleanupSummary {
  started: Array<CleanupCandidate & { operationId: string }>;
  failedToStart: Array<CleanupCandidate & { error: string }>;
  purgedRows: number;
}

export type CleanupDeps = OperationPorts & { workspaces: WorkspaceStore; installed: InstalledStore; log: Log; batch: number };

/**
 * SPEC §7, one scheduled run: start uninstall executions for at most `batch` due rows (expired
 * `uninstall_at`, dropped from a non-empty allowlist, failed uninstalls), and forget the rows of
 * removed workspaces. Returns what it started so the run can be reported.
 */
export async function runCleanup(deps: CleanupDeps): Promise<CleanupSummary> {
  const summary: CleanupSummary = { started: [], failedToStart: [], purgedRows: 0 };
  for (const candidate of await deps.installed.cleanupCandidates(deps.batch)) {
    const workspace = await deps.workspaces.get(candidate.workspaceId);
    if (!workspace) continue;
    try {
      const { operation } = await startOperation(deps, {
        kind: 'uninstall',
        workspace,
        source: null,
        plugin: candidate.name,
        expectedSha256: null,
        restart: true,
        uninstallAt: null,
        idempotencyKey: null,
        actorPrefix: 'cleanup',
        asked: { plugin: candidate.name },
      });
      summary.started.push({ ...candidate, operationId: operation.operationId });
    } catch (err) {
      summary.failedToStart.push({ ...candidate, error: (err as Error).message });
    }
  }
  summary.purgedRows = await deps.workspaces.purgeRemovedPlugins(deps.batch);
  deps.log.info('cleanup run', { started: summary.started.length, failedToStart: summary.failedToStart.length, purgedRows: summary.purgedRows });
  return summary;
}
