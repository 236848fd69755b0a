import { ExternalRuntime, NoPreviousRevision, PluginNotInstalled, RevisionNotFound } from '../shared/errors.js';
import type { Log } from '../shared/logger.js';
import type { Operation, PluginRevision } from '../shared/types.js';
import type { Principal } from './access.js';
import type { OperationPorts, RevisionStore, WorkspaceStore } from './ports.js';
import { replayedOperation, settled, startOperation } from './start.js';
import { loadWorkspace, requireLiveWorkspace, requireWorkspace } from './workspace.js';

export interface RollbackInput {
  principal: Principal;
  workspaceId: string;
  plugin: string;
  /** Parsed once the workspace is known: which revision; absent, the newest older than the active one. */
  request: () => { revision?: number };
  idempotencyKey: string | null;
  waitSeconds: number;
  maxOperationsPerOrg: number;
}

export type RollbackDeps = OperationPorts & { workspaces: WorkspaceStore; revisions: RevisionStore };

/**
 * Accepts a rollback (SPEC §9): an operation of kind `rollback` that delivers the revision's kept
 * tarball through the same workflow as an install (Restart, VerifyHealth, Record). The revision is
 * chosen here, so the answer to a bad choice is synchronous.
 */
export async function rollback(deps: RollbackDeps, log: Log, input: RollbackInput): Promise<Operation> {
  const found = await loadWorkspace(deps.workspaces, input.principal, input.workspaceId, 'manage');
  if (found?.runtime === 'external') {
    throw new ExternalRuntime('plugins are not pushed to external workspaces', { hint: 'pull the revision you want with the download endpoint' });
  }
  const workspace = requireLiveWorkspace(input.workspaceId, found);
  const { revision } = input.request();
  const asked = { plugin: input.plugin, revision: revision ?? null };
  const replayed = await replayedOperation(deps.operations, workspace.id, input.idempotencyKey, { kind: 'rollback', asked });
  if (replayed) return settled(deps, replayed, input.waitSeconds);

  const target = chooseRevision(input.plugin, await deps.revisions.list(workspace.id, input.plugin), revision);
  const { operation, created } = await startOperation(
    { ...deps, log },
    {
      kind: 'rollback',
      workspace,
      source: target.source,
      plugin: input.plugin,
      expectedSha256: target.sha256,
      restart: true,
      uninstallAt: null,
      revision: target.revision,
      idempotencyKey: input.idempotencyKey,
      actorPrefix: input.principal.prefix,
      asked,
      maxInFlightForOrg: input.maxOperationsPerOrg,
    },
  );
  log.info(created ? 'rollback accepted' : 'rollback replayed', { operationId: operation.operationId, workspaceId: workspace.id, revision: target.revision });
  return settled(deps, operation, input.waitSeconds);
}

/**
 * The revision asked for, or by default the newest older than the active one that the health gate
 * did not undo (a `rolled_back` revision never ran healthy). Without an active revision (the
 * plugin was uninstalled) a revision must be named.
 */
export function chooseRevision(plugin: string, revisions: readonly PluginRevision[], asked: number | undefined): PluginRevision {
  if (revisions.length === 0) throw new PluginNotInstalled(`plugin "${plugin}" was never installed on this workspace`, { plugin });
  if (asked !== undefined) {
    const named = revisions.find((r) => r.revision === asked);
    if (!named) throw new RevisionNotFound(`plugin "${plugin}" has no revision ${asked} on this workspace`, { plugin, revision: asked });
    return named;
  }
  const active = revisions.find((r) => r.status === 'active');
  if (!active) throw new NoPreviousRevision(`plugin "${plugin}" has no active revision to roll back from: name the revision to put back`, { plugin });
  const previous = revisions.filter((r) => r.revision < active.revision && r.status !== 'rolled_back').sort((a, b) => b.revision - a.revision)[0];
  if (!previous) throw new NoPreviousRevision(`plugin "${plugin}" has no revision before the active one (${active.revision})`, { plugin });
  return previous;
}

/** `GET …/revisions`: newest first; 404 when the workspace never had the plugin. */
export async function listRevisions(
  deps: { workspaces: WorkspaceStore; revisions: RevisionStore },
  input: { principal: Principal; workspaceId: string; plugin: string },
): Promise<PluginRevision[]> {
  const workspace = requireWorkspace(input.workspaceId, await loadWorkspace(deps.workspaces, input.principal, input.workspaceId, 'read'));
  const revisions = await deps.revisions.list(workspace.id, input.plugin);
  if (revisions.length === 0)
    throw new PluginNotInstalled(`plugin "${input.plugin}" was never installed on workspace "${workspace.id}"`, { plugin: input.plugin });
  return revisions;
}
