import { randomUUID } from 'node:crypto';
import { Forbidden, NoTargets, RolloutFinished, RolloutNotFound, RolloutRunning, WorkspaceNotFound } from '../shared/errors.js';
import type { Log } from '../shared/logger.js';
import type { Workspace } from '../shared/types.js';
import { sameRuntime } from '@molecule/plugins-sdk/contract/runtimes';
import type { FailureMode, RateValue } from '../rollouts/policy.js';
import type { NewRollout, Rollout, RolloutCounts, RolloutTarget } from '../store/rollouts.js';
import type { Principal } from './access.js';
import type { SourceCatalog } from './ports.js';

/**
 * Fleet rollouts (SPEC §10): accepting one (validated like an install, its targets resolved
 * against the org's own workspaces), reading it with its ledger, and the ways on from any state
 * (cancel, new rate controls, resume). The driver that starts the installs is rollouts/driver.ts.
 */

export interface RolloutStore {
  create(rollout: NewRollout): Promise<Rollout>;
  get(id: string): Promise<Rollout | null>;
  list(orgId: string, limit: number): Promise<Rollout[]>;
  /** Every org's, newest first (the ops view). */
  listAll(limit: number): Promise<Rollout[]>;
  targets(id: string): Promise<RolloutTarget[]>;
  counts(id: string): Promise<RolloutCounts>;
  /** Several rollouts' counts at once, by id (a listing). */
  countsOf(ids: readonly string[]): Promise<Map<string, RolloutCounts>>;
  requestCancel(id: string): Promise<boolean>;
  updateControls(id: string, controls: { maxConcurrency?: RateValue; maxErrors?: RateValue }): Promise<boolean>;
  resume(id: string, maxErrors?: RateValue): Promise<boolean>;
  /** A rollout's succeeded installs, each with the revision active before it (null: none). */
  rollbackTargets(id: string): Promise<Array<{ workspaceId: string; revision: number | null }>>;
}

export interface OrgWorkspaces {
  /** The org's workspaces, removed ones excluded, in id order. */
  ofOrg(orgId: string): Promise<Workspace[]>;
}

/** Starts the rollout's driver (a workflow execution named after the rollout). */
export interface RolloutStarter {
  start(rollout: Rollout): Promise<void>;
}

export type RolloutTargets = { workspaceIds: string[] } | { runtime: string } | { all: true };

export interface RolloutRequest {
  source: string;
  sha256?: string;
  targets: RolloutTargets;
  maxConcurrency: RateValue;
  maxErrors: RateValue;
  canary: number;
  failureMode: FailureMode;
  restart: boolean;
  replace: boolean;
  healthCheck: boolean;
  signature?: string;
  dryRun: boolean;
}

export interface RolloutDeps {
  rollouts: RolloutStore;
  orgWorkspaces: OrgWorkspaces;
  sources: SourceCatalog;
  driver: RolloutStarter;
}

/** Who may act on an org's rollouts: that org's token, or the admin. */
function requireOrg(principal: Principal, orgId: string): void {
  if (principal.kind === 'admin') return;
  if (principal.kind === 'org' && principal.orgId === orgId) return;
  throw new Forbidden(`this token may not manage rollouts of org "${orgId}"`);
}

/**
 * The targets in workspace-id order: the listed workspaces (each must be the org's, else 404 as
 * another org's workspace is), those of a runtime, or all. External workspaces are skipped here
 * (`external_runtime`); runtimes the plugin does not list and plugins already there are skipped
 * once the plugin is staged. Nothing matching is 422 no_targets.
 */
export function resolveTargets(workspaces: readonly Workspace[], targets: RolloutTargets): NewRollout['targets'] {
  let chosen: Workspace[];
  if ('workspaceIds' in targets) {
    const byId = new Map(workspaces.map((w) => [w.id, w]));
    chosen = [...new Set(targets.workspaceIds)].sort().map((id) => {
      const found = byId.get(id);
      if (!found) throw new WorkspaceNotFound(`workspace "${id}" not found`);
      return found;
    });
  } else if ('runtime' in targets) {
    chosen = workspaces.filter((w) => sameRuntime(w.runtime, targets.runtime));
  } else {
    chosen = [...workspaces];
  }
  if (chosen.length === 0) throw new NoTargets('the rollout targets match no workspace of the org');
  return chosen.map((w) =>
    w.runtime === 'external' ? { workspaceId: w.id, status: 'skipped', reason: 'external_runtime' } : { workspaceId: w.id, status: 'pending' },
  );
}

export async function createRollout(deps: RolloutDeps, log: Log, input: { principal: Principal; orgId: string; request: RolloutRequest }): Promise<Rollout> {
  requireOrg(input.principal, input.orgId);
  const { request } = input;
  const source = deps.sources.validate(request.source);
  const targets = resolveTargets(await deps.orgWorkspaces.ofOrg(input.orgId), request.targets);
  const rollout = await deps.rollouts.create({
    id: randomUUID(),
    orgId: input.orgId,
    kind: 'install',
    plugin: source.expectedName ?? null,
    source: source.canonical,
    sha256: request.sha256 ?? null,
    request: {
      restart: request.restart,
      replace: request.replace,
      healthCheck: request.healthCheck,
      dryRun: request.dryRun,
      ...(request.signature ? { signature: request.signature } : {}),
    },
    maxConcurrency: request.maxConcurrency,
    maxErrors: request.maxErrors,
    canary: request.canary,
    failureMode: request.failureMode,
    parentRolloutId: null,
    actorPrefix: input.principal.prefix,
    targets,
  });
  await deps.driver.start(rollout);
  log.info('rollout accepted', { rolloutId: rollout.id, orgId: input.orgId, targets: targets.length, source: source.canonical });
  return rollout;
}

/** The org's rollouts, newest first. */
export async function listRollouts(deps: Pick<RolloutDeps, 'rollouts'>, principal: Principal, orgId: string, limit: number): Promise<Rollout[]> {
  requireOrg(principal, orgId);
  return deps.rollouts.list(orgId, limit);
}

/** A rollout of the org, or 404 (another org's rollout is not found, as its workspaces are). */
export async function loadRollout(deps: Pick<RolloutDeps, 'rollouts'>, principal: Principal, orgId: string, id: string): Promise<Rollout> {
  requireOrg(principal, orgId);
  const rollout = await deps.rollouts.get(id);
  if (!rollout || rollout.orgId !== orgId) throw new RolloutNotFound(`rollout "${id}" not found`);
  return rollout;
}

export async function rolloutView(
  deps: Pick<RolloutDeps, 'rollouts'>,
  rollout: Rollout,
): Promise<{ rollout: Rollout; counts: RolloutCounts; targets: RolloutTarget[] }> {
  const [counts, targets] = await Promise.all([deps.rollouts.counts(rollout.id), deps.rollouts.targets(rollout.id)]);
  return { rollout, counts, targets };
}

/** No new install starts; it ends CANCELLED once those in flight finish. */
export async function cancelRollout(deps: Pick<RolloutDeps, 'rollouts'>, principal: Principal, orgId: string, id: string): Promise<Rollout> {
  const rollout = await loadRollout(deps, principal, orgId, id);
  if (!(await deps.rollouts.requestCancel(rollout.id))) throw new RolloutFinished(`rollout "${id}" already ended ${rollout.status}`);
  return (await deps.rollouts.get(rollout.id)) ?? rollout;
}

/** New rate controls from the next start on. */
export async function patchRollout(
  deps: Pick<RolloutDeps, 'rollouts'>,
  principal: Principal,
  orgId: string,
  id: string,
  controls: { maxConcurrency?: RateValue; maxErrors?: RateValue },
): Promise<Rollout> {
  const rollout = await loadRollout(deps, principal, orgId, id);
  if (!(await deps.rollouts.updateControls(rollout.id, controls))) throw new RolloutFinished(`rollout "${id}" already ended ${rollout.status}`);
  return (await deps.rollouts.get(rollout.id)) ?? rollout;
}

/**
 * SPEC §10: a new rollout of kind `rollback` with the same rate controls, over the workspaces whose
 * install in `id` succeeded: each goes back to the revision active before it, or loses the plugin
 * where it had none. 422 no_targets when no install of it succeeded.
 */
export async function rollbackRollout(
  deps: Pick<RolloutDeps, 'rollouts' | 'driver'>,
  log: Log,
  principal: Principal,
  orgId: string,
  id: string,
): Promise<Rollout> {
  const parent = await loadRollout(deps, principal, orgId, id);
  const targets = await deps.rollouts.rollbackTargets(parent.id);
  if (targets.length === 0) throw new NoTargets(`no install of rollout "${id}" succeeded: nothing to roll back`);
  const rollout = await deps.rollouts.create({
    id: randomUUID(),
    orgId,
    kind: 'rollback',
    plugin: parent.plugin,
    source: parent.source,
    sha256: parent.sha256,
    request: { restart: true, healthCheck: parent.request.healthCheck !== false },
    maxConcurrency: parent.maxConcurrency,
    maxErrors: parent.maxErrors,
    canary: parent.canary,
    failureMode: parent.failureMode,
    parentRolloutId: parent.id,
    actorPrefix: principal.prefix,
    targets: targets.map((t) => ({ workspaceId: t.workspaceId, status: 'pending', revision: t.revision })),
  });
  await deps.driver.start(rollout);
  log.info('rollout rollback accepted', { rolloutId: rollout.id, parentRolloutId: parent.id, targets: targets.length });
  return rollout;
}

/** A STOPPED or CANCELLED rollout runs its pending targets again. */
export async function resumeRollout(
  deps: Pick<RolloutDeps, 'rollouts' | 'driver'>,
  principal: Principal,
  orgId: string,
  id: string,
  maxErrors?: RateValue,
): Promise<Rollout> {
  const rollout = await loadRollout(deps, principal, orgId, id);
  if (rollout.status === 'RUNNING') throw new RolloutRunning(`rollout "${id}" is still running`);
  if (!(await deps.rollouts.resume(rollout.id, maxErrors))) throw new RolloutFinished(`rollout "${id}" ended ${rollout.status}: nothing to resume`);
  const resumed = (await deps.rollouts.get(rollout.id)) ?? rollout;
  await deps.driver.start(resumed);
  return resumed;
}
