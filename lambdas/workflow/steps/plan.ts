import type { Plan } from '../../shared/types.js';
import { fileChanges } from '../../plugins/file-changes.js';
import { emitMetric, METRIC } from '../../shared/metrics.js';
import type { StepPorts } from '../ports.js';
import { Staged } from './state.js';
import { defineStep, durableWrite } from './step.js';

/**
 * Plan (SPEC §9, `"dryRun": true`): what the install would change, from the files Stage found and
 * the active revision's recorded files. Never contacts the host, never takes the lease; it closes
 * the operation itself (SUCCEEDED, with the plan), a refused install included (`allowed: false`).
 */
export function planStep({ ports }: { ports: StepPorts }) {
  return defineStep('Plan', ports.operations, Staged, async (state, log, remainingMs) => {
    const { staged } = state;
    const [files, active, installed] = await Promise.all([
      ports.operations.stagedFiles(state.operationId),
      ports.revisions.active(state.workspace.id, staged.name),
      ports.installed.get(state.workspace.id, staged.name),
    ]);
    const stagedFiles = files ?? [];
    const inexact = !active && installed !== null && installed.sha256 !== staged.sha256;
    const before = active ? active.files : !installed || installed.sha256 === staged.sha256 ? (installed ? stagedFiles : []) : null;
    const changes = fileChanges(stagedFiles, before);
    const from = active
      ? { version: active.version, sha256: active.sha256, revision: active.revision }
      : installed
        ? { version: installed.version, sha256: installed.sha256, revision: null }
        : null;
    const plan: Plan = {
      status: 'planned',
      operationId: state.operationId,
      plugin: staged.name,
      from,
      to: { version: staged.version, sha256: staged.sha256 },
      files: changes,
      restart: state.restart && restartsFor(changes),
      allowed: state.blockedBy === undefined,
      ...(state.blockedBy ? { blockedBy: state.blockedBy as NonNullable<Plan['blockedBy']> } : {}),
      warnings: [...staged.warnings, ...(inexact ? ['plan_inexact: the installed version predates revisions, so every file is listed as changed'] : [])],
    };
    await durableWrite(() => ports.operations.planned(state.operationId, plan), remainingMs);
    await durableWrite(() => ports.operations.finish(state.operationId, 'SUCCEEDED'), remainingMs);
    log.info('planned', { added: changes.added.length, removed: changes.removed.length, changed: changes.changed.length, allowed: plan.allowed });
    await emitMetric(METRIC.OperationsSucceeded, 1, { kind: 'plan' }, { alsoWithoutDimensions: true });
    return { state };
  });
}

/** SPEC §5: a change restarts unless it only edits SKILL.md files (hot-reloaded); no change does not restart. */
export function restartsFor(files: Plan['files']): boolean {
  if (files.added.length > 0 || files.removed.length > 0) return true;
  return files.changed.some((path) => path.split('/').at(-1) !== 'SKILL.md');
}
