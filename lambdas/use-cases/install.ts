import { ExternalRuntime } from '../shared/errors.js';
import { addIsoDuration, type IsoDuration } from '../shared/iso-duration.js';
import type { Log } from '../shared/logger.js';
import type { Operation } from '../shared/types.js';
import type { Principal } from './access.js';
import type { InstalledStore, OperationPorts, SourceCatalog, WorkspaceStore } from './ports.js';
import { requireSameOrigin } from '../plugins/origin-conflict.js';
import { withinScheduleLimit } from './schedule.js';
import { replayedOperation, settled, startOperation } from './start.js';
import { loadWorkspace, requireLiveWorkspace } from './workspace.js';

export interface InstallRequest {
  source: string;
  sha256?: string;
  restart: boolean;
  /** Whether the install may replace an installed plugin of another origin (SPEC §4 origins); default false. */
  replace?: boolean;
  uninstallAfter?: IsoDuration;
  /** SPEC §9: a plan of what the install would change; nothing is delivered. */
  dryRun?: boolean;
  /** SPEC §9: `false` skips the health gate. */
  healthCheck?: boolean;
  /** SPEC §11: the plugin's armored SSH signature, judged by Stage instead of a root plugin.sig. */
  signature?: string;
}

export interface InstallInput {
  principal: Principal;
  workspaceId: string;
  /** Parses the body when the seed's order reaches it: after the external-workspace check, before the source. */
  request: () => InstallRequest;
  idempotencyKey: string | null;
  waitSeconds: number;
  /** Operations the workspace's org may have in flight; a new one past it is 429 too_many_operations. */
  maxOperationsPerOrg: number;
}

export type InstallDeps = OperationPorts & { workspaces: WorkspaceStore; sources: SourceCatalog; installed: InstalledStore };

const PUSH_HINT = 'external workspaces are not pushed to: fetch the plugin with GET /workspaces/{id}/plugins/{name}/download and unpack it on the agent';

/**
 * Accepts an install: checks it synchronously in the seed's order, records the operation and
 * starts its workflow, then answers with the operation as it stands after `waitSeconds`.
 */
export async function install(deps: InstallDeps, log: Log, input: InstallInput): Promise<Operation> {
  const found = await loadWorkspace(deps.workspaces, input.principal, input.workspaceId, 'manage');
  if (found?.runtime === 'external') throw new ExternalRuntime('plugins are not pushed to external workspaces', { hint: PUSH_HINT });
  const body = input.request();
  const source = deps.sources.validate(body.source);
  const workspace = requireLiveWorkspace(input.workspaceId, found);
  const replace = body.replace ?? false;
  const kind = body.dryRun ? 'plan' : 'install';
  // A plan says what would refuse the install (`blockedBy`) instead of refusing it.
  if (source.expectedName !== undefined && kind === 'install') {
    // Checked again by CheckAllowlist once Stage has read the name; here it saves starting a workflow.
    const installed = await deps.installed.get(workspace.id, source.expectedName);
    requireSameOrigin(installed, { plugin: source.expectedName, source: source.canonical, replace });
  }
  const now = deps.clock.now();
  const uninstallAt = body.uninstallAfter ? withinScheduleLimit(addIsoDuration(now, body.uninstallAfter), now, 'uninstallAfter').toISOString() : null;
  const asked = {
    source: source.canonical,
    sha256: body.sha256 ?? null,
    restart: body.restart,
    uninstallAfter: body.uninstallAfter ?? null,
    // Only when set: a request without them hashes as it did before they existed.
    ...(replace ? { replace } : {}),
    ...(body.healthCheck === false ? { healthCheck: false } : {}),
    ...(body.signature !== undefined ? { signature: body.signature } : {}),
  };
  // A replay answers with its operation even while the org is at its cap; only new work is refused.
  const replayed = await replayedOperation(deps.operations, workspace.id, input.idempotencyKey, { kind, asked });
  if (replayed) {
    log.info(`${kind} replayed`, { operationId: replayed.operationId, workspaceId: workspace.id, source: source.canonical });
    return settled(deps, replayed, input.waitSeconds);
  }
  const { operation, created } = await startOperation(
    { ...deps, log },
    {
      kind,
      workspace,
      source: source.canonical,
      plugin: source.expectedName ?? null,
      expectedSha256: body.sha256 ?? null,
      restart: body.restart,
      replace,
      uninstallAt,
      healthCheck: body.healthCheck ?? true,
      ...(body.signature !== undefined ? { signature: body.signature } : {}),
      idempotencyKey: input.idempotencyKey,
      actorPrefix: input.principal.prefix,
      asked,
      maxInFlightForOrg: input.maxOperationsPerOrg,
    },
  );
  log.info(created ? `${kind} accepted` : `${kind} replayed`, { operationId: operation.operationId, workspaceId: workspace.id, source: source.canonical });
  return settled(deps, operation, input.waitSeconds);
}
