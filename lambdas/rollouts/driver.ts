import { requireAllowedPlugin } from '../plugins/allowlist-policy.js';
import { AppError, TooManyOperations, type ErrorRecord, toErrorRecord } from '../shared/errors.js';
import type { Log } from '../shared/logger.js';
import type { AllowlistMatch, InstalledPlugin, RevisionFile, Signer, StagedPlugin, Workspace } from '../shared/types.js';
import { supportsRuntime } from '@molecule/plugins-sdk/contract/runtimes';
import type { Rollout, RolloutStatus, RolloutTarget } from '../store/rollouts.js';
import { nextMove, resolveControls } from './policy.js';
import { emitMetric, METRIC } from '../shared/metrics.js';

/**
 * The driver of a fleet rollout (SPEC §10), one call at a time from its workflow: `prepare`
 * stages the plugin and checks the allowlist once for the whole rollout and skips the targets it
 * does not concern; each `tick` brings the ledger up to date with the operations that ended, asks
 * the rate control (policy.ts) what to start, and starts those installs as ordinary operations. The
 * ledger is the only state: a tick that crashed is simply run again.
 */

/** What Stage found for the whole rollout: every target's install delivers this tarball. */
export interface RolloutStaged {
  staged: StagedPlugin;
  files: RevisionFile[];
  /** The signature judged once for the rollout (SPEC §11): its signer, a warning, or (a dry run) what would refuse it. */
  signing?: { signer: Signer | null; warnings: string[]; blockedBy?: 'signature_invalid' | 'signature_required' };
}

export interface DriverPorts {
  rollouts: {
    get(id: string): Promise<Rollout | null>;
    targets(id: string): Promise<RolloutTarget[]>;
    settle(id: string): Promise<number>;
    /** A rollback rollout's put-back workspaces read `rolled_back` in the rollout it undoes. */
    markParentRolledBack(id: string): Promise<void>;
    skip(id: string, position: number, reason: string): Promise<void>;
    markStarted(id: string, position: number, operationId: string): Promise<void>;
    finish(id: string, status: Exclude<RolloutStatus, 'RUNNING'>, error?: ErrorRecord): Promise<boolean>;
    setStaged(id: string, staged: { plugin: string; sha256: string; facts: RolloutStaged }): Promise<void>;
    staged(id: string): Promise<RolloutStaged | null>;
  };
  workspaces: { get(id: string): Promise<Workspace | null> };
  installed: { get(workspaceId: string, name: string): Promise<InstalledPlugin | null> };
  allowlist: { match(orgId: string, name: string, source: string): Promise<AllowlistMatch> };
  /** Fetches and stages the rollout's source once, into the kept location every install reads. */
  stage(rollout: Rollout): Promise<RolloutStaged>;
  /** Starts one target's operation (idempotent per rollout and workspace); throws TooManyOperations at the org's cap. */
  startTarget(rollout: Rollout, workspace: Workspace, target: RolloutTarget): Promise<string>;
}

export type DriverOutcome = { done: true; status: RolloutStatus } | { done: false };

/**
 * Stages once and checks the allowlist once; a refusal ends the rollout FAILED with that error
 * before any workspace is touched. Then skips `unsupported_runtime` and `already_installed`
 * targets. A rollout prepared before (resumed) is not staged again.
 */
export async function prepareRollout(ports: DriverPorts, log: Log, rolloutId: string): Promise<DriverOutcome> {
  const rollout = await ports.rollouts.get(rolloutId);
  if (rollout?.status !== 'RUNNING') return { done: true, status: rollout?.status ?? 'FAILED' };
  // A rollback puts back revisions each workspace had (kept tarballs, or their sources pinned): nothing to stage.
  if (rollout.kind === 'rollback') return { done: false };
  let prepared = await ports.rollouts.staged(rolloutId);
  if (!prepared) {
    try {
      prepared = await ports.stage(rollout);
      const { name } = prepared.staged;
      requireAllowedPlugin(await ports.allowlist.match(rollout.orgId, name, rollout.source ?? ''), name, rollout.source ?? '');
    } catch (err) {
      // Trouble that passes is the workflow's to retry; anything else is the rollout's end.
      if (!(err instanceof AppError) || err.transient) throw err;
      log.warn('rollout failed before any workspace', { rolloutId, code: err.code, reason: err.message });
      // The error's documented context (a signature's reason and statement, an integrity mismatch's hashes) goes with it.
      await ports.rollouts.finish(rolloutId, 'FAILED', { ...err.details, ...toErrorRecord(err) });
      return { done: true, status: 'FAILED' };
    }
    await ports.rollouts.setStaged(rolloutId, { plugin: prepared.staged.name, sha256: prepared.staged.sha256, facts: prepared });
  }
  const { staged } = prepared;
  for (const target of await ports.rollouts.targets(rolloutId)) {
    if (target.status !== 'pending') continue;
    const workspace = await ports.workspaces.get(target.workspaceId);
    if (!workspace || workspace.status === 'removed') await ports.rollouts.skip(rolloutId, target.position, 'workspace_removed');
    else if (!supportsRuntime(staged.runtimes, workspace.runtime)) await ports.rollouts.skip(rolloutId, target.position, 'unsupported_runtime');
    else if ((await ports.installed.get(workspace.id, staged.name))?.sha256 === staged.sha256 && rollout.request.dryRun !== true) {
      await ports.rollouts.skip(rolloutId, target.position, 'already_installed');
    }
  }
  log.info('rollout prepared', { rolloutId, plugin: staged.name, sha256: staged.sha256 });
  return { done: false };
}

/** An install's own bound: its fetch, delivery, restart and health gate (the step timeouts, roughly). */
const INSTALL_BOUND_MS = 15 * 60_000;

/**
 * Running past what its targets can take: its waves of installs (canaries one by one, the rest
 * maxConcurrency at a time) at an install's bound, twice over, counted from its start.
 */
export function overdue(rollout: Rollout, targets: readonly RolloutTarget[], now: Date): boolean {
  const { maxConcurrency, canary } = resolveControls(rollout, targets.length);
  const installs = targets.filter((t) => t.status !== 'skipped').length;
  const waves = Math.min(canary, installs) + Math.ceil(installs / maxConcurrency);
  return now.getTime() - Date.parse(rollout.createdAt) > 2 * waves * INSTALL_BOUND_MS;
}

/** Installs one tick may start, whatever the rate control allows: bounds one invocation's work. */
export const STARTS_PER_TICK = 50;

/**
 * One step of the rollout: the ledger catches up with the operations that ended, then the rate
 * control says what to start or that the rollout is over. At the org's cap of operations in
 * flight the rest waits for the next tick (a rollout waits for a slot instead of failing).
 */
export async function tickRollout(ports: DriverPorts, log: Log, rolloutId: string, now: () => Date = () => new Date()): Promise<DriverOutcome> {
  const rollout = await ports.rollouts.get(rolloutId);
  if (rollout?.status !== 'RUNNING') return { done: true, status: rollout?.status ?? 'FAILED' };
  await ports.rollouts.settle(rolloutId);
  if (rollout.kind === 'rollback') await ports.rollouts.markParentRolledBack(rolloutId);
  const targets = await ports.rollouts.targets(rolloutId);
  const move = nextMove(
    { targets: targets.map((t) => t.status), cancelRequested: rollout.cancelRequested },
    { maxConcurrency: rollout.maxConcurrency, maxErrors: rollout.maxErrors, canary: rollout.canary, failureMode: rollout.failureMode },
    STARTS_PER_TICK,
  );
  if (move.kind === 'end') {
    await ports.rollouts.finish(rolloutId, move.status);
    log.info('rollout ended', { rolloutId, status: move.status, reason: move.reason });
    if (move.status === 'STOPPED') await emitMetric(METRIC.RolloutsStopped, 1);
    return { done: true, status: move.status };
  }
  if (overdue(rollout, targets, now())) {
    log.warn('rollout running past its expected duration', { rolloutId, since: rollout.createdAt });
    await emitMetric(METRIC.RolloutsOverdue, 1);
  }
  if (move.kind === 'start') {
    for (const index of move.targets) {
      const target = targets[index] as RolloutTarget;
      const workspace = await ports.workspaces.get(target.workspaceId);
      if (!workspace) {
        await ports.rollouts.skip(rolloutId, target.position, 'workspace_removed');
        continue;
      }
      try {
        await ports.rollouts.markStarted(rolloutId, target.position, await ports.startTarget(rollout, workspace, target));
      } catch (err) {
        if (!(err instanceof TooManyOperations)) throw err;
        log.info('the org is at its cap of operations in flight; the rest waits for a slot', { rolloutId });
        break;
      }
    }
  }
  return { done: false };
}
