import type { CleanupCandidate } from '../store/installed.js';
import type { Log } from '../shared/logger.js';
import type { InstalledStore, KeptTarballStore, OperationPorts, RevisionStore, WorkspaceStore } from './ports.js';
import { startOperation } from './start.js';

export interface CleanupSummary {
  started: Array<CleanupCandidate & { operationId: string }>;
  failedToStart: Array<CleanupCandidate & { error: string }>;
  purgedRows: number;
  /** Revision tarballs deleted: no kept revision named them any more. */
  expiredTarballs: number;
}

export type CleanupDeps = OperationPorts & {
  workspaces: WorkspaceStore;
  installed: InstalledStore;
  revisions: RevisionStore;
  /** Absent: tarballs are not pruned in this run (a caller without the bucket). */
  tarballs?: KeptTarballStore;
  log: Log;
  batch: number;
};

/**
 * A tarball copied a moment ago may belong to a revision whose row Record writes next: only one
 * untouched this long goes (Record's copy refreshes LastModified).
 */
export const TARBALL_GRACE_MS = 60 * 60 * 1000;

/** Tarballs one run may delete for every operation the batch may start (one HEAD each, one DeleteObjects). */
const TARBALLS_PER_BATCH = 2;

/**
 * SPEC §7, one scheduled run: start uninstall executions for at most `batch` due rows (expired
 * `uninstall_at`, dropped from a non-empty allowlist, failed uninstalls), and forget the rows of
 * removed workspaces. Returns what it started so the run can be reported.
 */
export async function runCleanup(deps: CleanupDeps): Promise<CleanupSummary> {
  const summary: CleanupSummary = { started: [], failedToStart: [], purgedRows: 0, expiredTarballs: 0 };
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
  if (deps.tarballs) summary.expiredTarballs = await pruneTarballs(deps, deps.tarballs);
  deps.log.info('cleanup run', {
    started: summary.started.length,
    failedToStart: summary.failedToStart.length,
    purgedRows: summary.purgedRows,
    expiredTarballs: summary.expiredTarballs,
  });
  return summary;
}

/**
 * SPEC §9: the tarballs of the last PLUGIN_REVISIONS_KEPT revisions per workspace and plugin stay;
 * one that no kept revision of any workspace names goes, once untouched for an hour. The database
 * says which (no bucket listing), a bounded batch per run. Trouble here is logged and left for the
 * next run: it never stops the uninstalls above.
 */
async function pruneTarballs(deps: CleanupDeps, tarballs: KeptTarballStore): Promise<number> {
  try {
    const now = deps.clock.now().getTime();
    const expired: string[] = [];
    const gone: string[] = [];
    for (const sha256 of await deps.revisions.expiredTarballs(deps.batch * TARBALLS_PER_BATCH)) {
      const modified = await tarballs.lastModified(sha256);
      if (modified === null) gone.push(sha256);
      else if (now - modified.getTime() > TARBALL_GRACE_MS) expired.push(sha256);
    }
    await tarballs.delete(expired);
    await deps.revisions.markTarballsDeleted([...expired, ...gone]);
    return expired.length;
  } catch (err) {
    deps.log.warn('could not prune revision tarballs; the next cleanup tries again', { error: (err as Error).message });
    return 0;
  }
}
