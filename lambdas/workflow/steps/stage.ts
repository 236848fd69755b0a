import type { KeptTarballs, StepPorts } from '../ports.js';
import { stagePlugin, type StagePluginDeps } from '../../staging/stage-plugin.js';
import { AppError, RevisionExpired, RevisionNotFound } from '../../shared/errors.js';
import type { Log } from '../../shared/logger.js';
import type { PluginRevision, RevisionFile, StagedPlugin } from '../../shared/types.js';
import { AcceptedInstall, type StagedState } from './state.js';
import { defineStep } from './step.js';
import { emitMetric, METRIC } from '../../shared/metrics.js';

export type StageDeps = StagePluginDeps & { ports: StepPorts; tarballs: KeptTarballs };

type StageInput = ReturnType<typeof AcceptedInstall.parse>;

/**
 * Stage: fetch, validate and normalize the plugin into S3; the operation learns its name, hash,
 * files and warnings. A rollback stages nothing new: it finds the revision's kept tarball, or
 * stages the revision's source again pinned to its recorded sha256 (SPEC §9).
 */
export function stageStep(deps: StageDeps) {
  return defineStep('Stage', deps.ports.operations, AcceptedInstall, async (state, log) => {
    const fetchDeadline = state.requestedAt ? new Date(Date.parse(state.requestedAt) + deps.config.limits.fetchTimeoutMs) : undefined;
    const { staged, files } =
      state.kind === 'rollback'
        ? await stageRevision(deps, state, log, fetchDeadline)
        : await stagePlugin(deps, { source: state.source, expectedSha256: state.expectedSha256, id: state.operationId, fetchDeadline });
    await deps.ports.operations.staged(state.operationId, { plugin: staged.name, sha256: staged.sha256, warnings: staged.warnings, files });
    log.info('staged', { plugin: staged.name, sha256: staged.sha256, files: staged.fileCount, bytes: staged.bytes });
    await emitMetric(METRIC.StagingBytes, staged.bytes);
    const next: StagedState = { ...state, phase: 'staged', plugin: staged.name, staged };
    return { state: next };
  });
}

async function stageRevision(
  deps: StageDeps,
  state: StageInput,
  log: Log,
  fetchDeadline: Date | undefined,
): Promise<{ staged: StagedPlugin; files: RevisionFile[] }> {
  const plugin = state.plugin ?? '';
  const number = state.revision ?? 0;
  const revision = await deps.ports.revisions.get(state.workspace.id, plugin, number);
  if (!revision) throw new RevisionNotFound(`plugin "${plugin}" has no revision ${number} on this workspace`, { plugin, revision: number });
  await keepRevisionTarball(deps, revision, state.operationId, log, fetchDeadline);
  const kept = deps.tarballs.locate(revision.sha256);
  return {
    staged: {
      ...kept,
      name: revision.plugin,
      version: revision.version,
      sha256: revision.sha256,
      skills: revision.skills,
      runtimes: revision.runtimes,
      fileCount: revision.files.length,
      bytes: revision.files.reduce((sum, file) => sum + file.size, 0),
      warnings: [],
    },
    files: revision.files,
  };
}

/**
 * Makes sure a revision's tarball is kept (a rollback's, a reinstall's): when it is not, its source
 * is staged again pinned to its recorded sha256 into the kept place, and when the source no longer
 * gives those bytes the revision has expired (410 revision_expired).
 */
export async function keepRevisionTarball(
  deps: StageDeps,
  revision: Pick<PluginRevision, 'plugin' | 'revision' | 'source' | 'sha256'>,
  operationId: string,
  log: Log,
  fetchDeadline: Date | undefined,
): Promise<void> {
  if (await deps.tarballs.exists(revision.sha256)) return;
  const { plugin, revision: number } = revision;
  log.info('the revision tarball is no longer kept; staging its source again', { plugin, revision: number, source: revision.source });
  try {
    const again = await stagePlugin(deps, { source: revision.source, expectedSha256: revision.sha256, id: operationId, fetchDeadline });
    await deps.tarballs.keep({ bucket: again.staged.bucket, key: again.staged.key }, revision.sha256);
  } catch (err) {
    // Trouble that passes (a fetch, S3, the database) is retried as for an install; anything else
    // means the source no longer gives those bytes.
    if (err instanceof AppError && err.transient) throw err;
    const reason = err instanceof AppError ? err.code : 'staging_failed';
    throw new RevisionExpired(`revision ${number} of "${plugin}" is no longer kept and its source no longer gives those bytes (${reason})`, {
      plugin,
      revision: number,
    });
  }
}
