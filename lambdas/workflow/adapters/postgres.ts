import type { Db } from '../../store/db.js';
import { allowlistFacts } from '../../store/allowlist.js';
import { deleteInstalled, getInstalled, listInstalled, markUninstallFailed, upsertInstalled } from '../../store/installed.js';
import { acquireLease, releaseLease } from '../../store/leases.js';
import { addWarnings, finishOperation, setFailing, setPlan, setRepair, setStaged, setVerification, stepEnded, stepStarted } from '../../store/operations.js';
import { isRestartPending, markRepaired, markVerified, setRestartPending } from '../../store/workspaces.js';
import { rolloutStaged } from '../../store/rollouts.js';
import { activeRevision, activeRevisionsOn, addRevision, getRevision, markRevisionRemoved, reactivateRevision, stagedFiles } from '../../store/revisions.js';
import { getTrust } from '../../store/trust.js';
import type { StepPorts } from '../ports.js';

/** The steps' ports over PostgreSQL. */
export function postgresStepPorts(db: Db): StepPorts {
  return {
    operations: {
      stepStarted: (id, step) => stepStarted(db, id, step),
      stepEnded: (id, step, status, details) => stepEnded(db, id, step, status, details),
      staged: (id, facts) => setStaged(db, id, facts),
      stagedFiles: (id) => stagedFiles(db, id),
      planned: (id, plan) => setPlan(db, id, plan),
      verified: (id, verification) => setVerification(db, id, verification),
      repaired: (id, repair) => setRepair(db, id, repair),
      addWarnings: (id, warnings) => addWarnings(db, id, warnings),
      failing: (id, error) => setFailing(db, id, error),
      finish: (id, status, error, closingStep) => finishOperation(db, id, status, error, closingStep),
    },
    leases: {
      acquire: (workspaceId, holder, ttlMs) => acquireLease(db, workspaceId, holder, ttlMs),
      release: (workspaceId, holder) => releaseLease(db, workspaceId, holder),
    },
    installed: {
      get: (workspaceId, name) => getInstalled(db, workspaceId, name),
      list: (workspaceId) => listInstalled(db, workspaceId),
      record: (plugin) => upsertInstalled(db, plugin),
      forget: async (workspaceId, name) => {
        await deleteInstalled(db, workspaceId, name);
      },
      markUninstallFailed: (workspaceId, name) => markUninstallFailed(db, workspaceId, name),
    },
    restarts: {
      isOwed: (workspaceId) => isRestartPending(db, workspaceId),
      setOwed: (workspaceId, owed) => setRestartPending(db, workspaceId, owed),
    },
    allowlist: { match: (orgId, pluginName, origin) => allowlistFacts(db, orgId, pluginName, origin) },
    // An org that never put a document trusts no one and requires nothing.
    trust: { get: async (orgId) => (await getTrust(db, orgId)) ?? { requireSignature: false, signers: [], revokedKeys: [] } },
    revisions: {
      add: (revision) => addRevision(db, revision),
      get: (workspaceId, plugin, revision) => getRevision(db, workspaceId, plugin, revision),
      active: (workspaceId, plugin) => activeRevision(db, workspaceId, plugin),
      activeOn: (workspaceId) => activeRevisionsOn(db, workspaceId),
      reactivate: (workspaceId, plugin, revision, operationId) => reactivateRevision(db, workspaceId, plugin, revision, operationId),
      markRemoved: (workspaceId, plugin) => markRevisionRemoved(db, workspaceId, plugin),
    },
    rollouts: { staged: (rolloutId) => rolloutStaged(db, rolloutId) },
    drift: {
      verified: (workspaceId, drifted) => markVerified(db, workspaceId, drifted),
      repaired: (workspaceId) => markRepaired(db, workspaceId),
    },
  };
}
