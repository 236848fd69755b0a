import type { Db } from '../../store/db.js';
import { createOperation, findByIdempotencyKey, finishOperation, getOperation, listOperations, setExecutionArn } from '../../store/operations.js';
import { cleanupCandidates, getInstalled, listInstalled, scheduleUninstall, upsertInstalled } from '../../store/installed.js';
import { claimDriftSweep, countDriftedWorkspaces, getWorkspace, orgExists, purgeRemovedWorkspacePlugins, upsertWorkspace } from '../../store/workspaces.js';
import { allowlistFacts, getAllowlist, replaceAllowlist } from '../../store/allowlist.js';
import { mintToken, revokeTokensByPrefix } from '../../store/tokens.js';
import { expiredTarballs, listRevisions, markTarballsDeleted } from '../../store/revisions.js';
import {
  createRollout,
  getRollout,
  listAllRollouts,
  listRollouts,
  requestCancel,
  resumeRollout,
  rollbackTargets,
  rolloutCounts,
  rolloutCountsOf,
  rolloutTargets,
  setRolloutExecution,
  updateControls,
} from '../../store/rollouts.js';
import { workspacesOfOrg } from '../../store/workspaces.js';
import { rolloutDriverStarter } from '../../rollouts/starter.js';
import type { OrgWorkspaces, RolloutStore } from '../rollouts.js';
import { getTrust, replaceTrust } from '../../store/trust.js';
import {
  systemClock,
  type AllowlistStore,
  type Clock,
  type DriftSweepStore,
  type InstalledStore,
  type OperationStore,
  type RevisionStore,
  type TokenStore,
  type TrustStore,
  type WorkflowStarter,
  type WorkspaceStore,
} from '../ports.js';

/** The use cases' stores over the PostgreSQL store modules. */

type Bound<F> = { [K in keyof F]: F[K] extends (db: Db, ...args: infer A) => infer R ? (...args: A) => R : never };

/** The store functions with the pool bound as their first argument: most ports are exactly that. */
export function bindDb<F extends Record<string, (db: Db, ...args: never[]) => unknown>>(db: Db, fns: F): Bound<F> {
  return Object.fromEntries(
    Object.entries(fns).map(([name, fn]) => [name, (...args: unknown[]) => (fn as (db: Db, ...rest: unknown[]) => unknown)(db, ...args)]),
  ) as Bound<F>;
}

export function pgWorkspaces(db: Db): WorkspaceStore {
  return bindDb(db, { get: getWorkspace, upsert: upsertWorkspace, orgExists, purgeRemovedPlugins: purgeRemovedWorkspacePlugins });
}

export function pgOperations(db: Db): OperationStore {
  return {
    ...bindDb(db, { create: createOperation, findByIdempotencyKey, get: getOperation, list: listOperations, setExecutionArn }),
    fail: (id, error) => finishOperation(db, id, 'FAILED', error),
  };
}

export function pgInstalled(db: Db): InstalledStore {
  return {
    get: (workspaceId, name) => getInstalled(db, workspaceId, name),
    list: (workspaceId) => listInstalled(db, workspaceId),
    record: (plugin) => upsertInstalled(db, plugin),
    scheduleUninstall: async (workspaceId, name, at) => {
      await scheduleUninstall(db, workspaceId, name, at);
    },
    cleanupCandidates: (batch) => cleanupCandidates(db, batch),
  };
}

export function pgAllowlist(db: Db): AllowlistStore {
  return bindDb(db, { match: allowlistFacts, get: getAllowlist, replace: replaceAllowlist });
}

export function pgRevisions(db: Db): RevisionStore {
  return bindDb(db, { list: listRevisions, expiredTarballs, markTarballsDeleted });
}

export function pgRollouts(db: Db): RolloutStore {
  return {
    create: (rollout) => createRollout(db, rollout),
    get: (id) => getRollout(db, id),
    list: (orgId, limit) => listRollouts(db, orgId, limit),
    listAll: (limit) => listAllRollouts(db, limit),
    targets: (id) => rolloutTargets(db, id),
    counts: (id) => rolloutCounts(db, id),
    countsOf: (ids) => rolloutCountsOf(db, ids),
    requestCancel: (id) => requestCancel(db, id),
    updateControls: (id, controls) => updateControls(db, id, controls),
    resume: (id, maxErrors) => resumeRollout(db, id, maxErrors),
    rollbackTargets: (id) => rollbackTargets(db, id),
  };
}

export function pgOrgWorkspaces(db: Db): OrgWorkspaces {
  return { ofOrg: (orgId) => workspacesOfOrg(db, orgId) };
}

export function pgTrust(db: Db): TrustStore {
  return bindDb(db, { get: getTrust, replace: replaceTrust });
}

export function pgDriftSweep(db: Db): DriftSweepStore {
  return bindDb(db, { claim: claimDriftSweep, countDrifted: countDriftedWorkspaces });
}

export function pgTokens(db: Db): TokenStore {
  return bindDb(db, { mint: mintToken, revokeByPrefix: revokeTokensByPrefix });
}

/** The stores of one database, with the workflow they start: the ports every operation use case takes. */
export function postgresPorts(db: Db, workflow: WorkflowStarter, clock: Clock = systemClock) {
  return {
    workflow,
    clock,
    operations: pgOperations(db),
    workspaces: pgWorkspaces(db),
    installed: pgInstalled(db),
    allowlist: pgAllowlist(db),
    tokens: pgTokens(db),
    revisions: pgRevisions(db),
    rollouts: pgRollouts(db),
    orgWorkspaces: pgOrgWorkspaces(db),
    driver: rolloutDriverStarter(workflow, (id, arn) => setRolloutExecution(db, id, arn)),
    trust: pgTrust(db),
  };
}
