import { ExternalRuntime, PluginNotInstalled } from '../shared/errors.js';
import type { Log } from '../shared/logger.js';
import type { Operation } from '../shared/types.js';
import type { Principal } from './access.js';
import type { InstalledStore, OperationPorts, WorkspaceStore } from './ports.js';
import { withinScheduleLimit } from './schedule.js';
import { replayedOperation, settled, startOperation } from './start.js';
import { loadWorkspace, requireLiveWorkspace } from './workspace.js';

export interface UninstallInput {
  principal: Principal;
  workspaceId: string;
  plugin: string;
  /** `DELETE ?at=`: the time as written (two requests are the same when they wrote the same) and as read. */
  at?: { text: string; when: Date };
  idempotencyKey: string | null;
  waitSeconds: number;
  /** Operations the workspace's org may have in flight; a new one past it is 429 too_many_operations. */
  maxOperationsPerOrg: number;
}

export type UninstallResult = { kind: 'scheduled'; plugin: string; uninstallAt: string } | { kind: 'operation'; operation: Operation };

export type UninstallDeps = OperationPorts & { workspaces: WorkspaceStore; installed: InstalledStore };

/**
 * An uninstall now, or at `at` when that is still ahead. A replayed idempotency key answers with
 * its first operation before anything else is checked, so a retry after the plugin is gone still
 * gets the answer the first request got.
 */
export async function uninstall(deps: UninstallDeps, log: Log, input: UninstallInput): Promise<UninstallResult> {
  const found = await loadWorkspace(deps.workspaces, input.principal, input.workspaceId, 'manage');
  if (found?.runtime === 'external') {
    throw new ExternalRuntime('plugins are not removed from external workspaces by the platform', {
      hint: 'external workspaces manage their own plugin directory: remove the plugin on the agent',
    });
  }
  const workspace = requireLiveWorkspace(input.workspaceId, found);
  const { plugin, at, idempotencyKey } = input;
  const asked = at === undefined ? { plugin } : { plugin, at: at.text };
  const replayed = await replayedOperation(deps.operations, workspace.id, idempotencyKey, { kind: 'uninstall', asked });
  if (replayed) return { kind: 'operation', operation: await settled(deps, replayed, input.waitSeconds) };
  const installed = await deps.installed.get(workspace.id, plugin);
  if (!installed) throw new PluginNotInstalled(`plugin "${plugin}" is not installed on workspace "${workspace.id}"`);

  if (at !== undefined) {
    const now = deps.clock.now();
    const when = withinScheduleLimit(at.when, now, 'at');
    if (when.getTime() > now.getTime()) {
      await deps.installed.scheduleUninstall(workspace.id, plugin, when.toISOString());
      return { kind: 'scheduled', plugin, uninstallAt: when.toISOString() };
    }
  }
  const { operation } = await startOperation(
    { ...deps, log },
    {
      kind: 'uninstall',
      workspace,
      source: installed.source,
      plugin,
      expectedSha256: null,
      restart: true,
      uninstallAt: null,
      idempotencyKey,
      actorPrefix: input.principal.prefix,
      asked,
      // A scheduled uninstall (above) is not in flight yet: the cap applies when one starts now.
      maxInFlightForOrg: input.maxOperationsPerOrg,
    },
  );
  return { kind: 'operation', operation: await settled(deps, operation, input.waitSeconds) };
}
