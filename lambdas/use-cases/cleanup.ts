import type { CleanupCandidate } from '../store/installed.js';
import type { Log } from '../shared/logger.js';
import { emitMetric, METRIC } from '../shared/metrics.js';
import type { DriftSweepStore, InstalledStore, KeptTarballStore, OperationPorts, RevisionStore, WorkspaceStore } from './ports.js';
import { startOperation } from './start.js';

export interface CleanupSummary {
  started: Array<CleanupCandidate & { operationId: string }>;
  failedToStart: Array<CleanupCandidate & { error: string }>;
  purgedRows: number;
  /** Revision tarballs deleted: no kept revision named them any more. */
  expiredTarballs: number;
  /** The drift sweep, when this run had one (SPEC §12). */
  driftSweep?: DriftSweepSummary;
}

export interface DriftSweepSummary {
  started: Array<{ workspaceId: string; operationId: string }>;
  failedToStart: Array<{ workspaceId: string; error: string }>;
  /** Live workspaces whose latest verify found drift: the `DriftedWorkspaces` metric. */
  driftedWorkspaces: number;
}

export type CleanupDeps = OperationPorts & {
  workspaces: WorkspaceStore;
  installed: InstalledStore;
  revisions: RevisionStore;
  /** Absent: tarballs are not pruned in this run (a caller without the bucket). */
  tarballs?: KeptTarballStore;
  /** Absent, or a batch of 0: no drift sweep in this run. */
  driftSweep?: { store: DriftSweepStore; batch: number; afterMs: number };
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
  if (deps.driftSweep && deps.driftSweep.batch > 0) summary.driftSweep = await sweepDrift(deps, deps.driftSweep);
  deps.log.info('cleanup run', {
    started: summary.started.length,
    failedToStart: summary.failedToStart.length,
    purgedRows: summary.purgedRows,
    expiredTarballs: summary.expiredTarballs,
    ...(summary.driftSweep ? { verifiesStarted: summary.driftSweep.started.length, driftedWorkspaces: summary.driftSweep.driftedWorkspaces } : {}),
  });
  return summary;
}

/**
 * SPEC §12, on the cleanup's schedule: start a verify of at most `batch` workspaces, least
 * recently verified first (never verified before all; none verified within `afterMs`, a claimed
 * one counting as verified), so every host is looked at in turn however many there are and one
 * that is down waits its turn again; a workspace brought back after its rows were
 * purged is verified like any other, and reports its plugins as unknown. Each verify marks its
 * workspace when it ends; the count of drifted ones is published on every run (0 included, so the
 * alarm sees data), from the verifies that have ended by now.
 */
async function sweepDrift(deps: CleanupDeps, sweep: NonNullable<CleanupDeps['driftSweep']>): Promise<DriftSweepSummary> {
  const result: DriftSweepSummary = { started: [], failedToStart: [], driftedWorkspaces: 0 };
  const verifiedBefore = new Date(deps.clock.now().getTime() - sweep.afterMs);
  for (const workspaceId of await sweep.store.claim(sweep.batch, verifiedBefore)) {
    const workspace = await deps.workspaces.get(workspaceId);
    if (!workspace) continue;
    try {
      const { operation } = await startOperation(deps, {
        kind: 'verify',
        workspace,
        source: null,
        plugin: null,
        expectedSha256: null,
        restart: false,
        uninstallAt: null,
        idempotencyKey: null,
        actorPrefix: 'drift-sweep',
        asked: {},
      });
      result.started.push({ workspaceId, operationId: operation.operationId });
    } catch (err) {
      result.failedToStart.push({ workspaceId, error: (err as Error).message });
    }
  }
  result.driftedWorkspaces = await sweep.store.countDrifted();
  await emitMetric(METRIC.DriftedWorkspaces, result.driftedWorkspaces);
  return result;
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
