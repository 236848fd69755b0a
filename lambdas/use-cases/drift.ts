import { ExternalRuntime } from '../shared/errors.js';
import type { Log } from '../shared/logger.js';
import type { Operation, RepairMode } from '../shared/types.js';
import type { Principal } from './access.js';
import type { OperationPorts, WorkspaceStore } from './ports.js';
import { replayedOperation, settled, startOperation, type OperationRequest } from './start.js';
import { loadWorkspace, requireLiveWorkspace } from './workspace.js';

/**
 * Drift (SPEC §12): a verify inventories the host read-only and holds it against the records; a
 * repair mends what one finds. Both are operations through the one workflow, on the workspace
 * lease (a verify must not read a host half-way through another operation's swap), answered as an
 * install is (202, or the result within `Prefer: wait`).
 */

export interface DriftInput {
  principal: Principal;
  workspaceId: string;
  idempotencyKey: string | null;
  waitSeconds: number;
  maxOperationsPerOrg: number;
}

export interface RepairRequest {
  mode: RepairMode;
  plugins?: string[];
}

export type DriftDeps = OperationPorts & { workspaces: WorkspaceStore };

const PULL_HINT = 'an external workspace keeps its plugins itself: there is no host to inventory';

export async function verify(deps: DriftDeps, log: Log, input: DriftInput): Promise<Operation> {
  return startDrift(deps, log, input, 'verify', () => ({ asked: {}, repair: undefined }));
}

/** `request` parses the body once the workspace is known to take it. */
export async function repair(deps: DriftDeps, log: Log, input: DriftInput & { request: () => RepairRequest }): Promise<Operation> {
  return startDrift(deps, log, input, 'repair', () => {
    const { mode, plugins } = input.request();
    const named = plugins ? [...new Set(plugins)].sort() : undefined;
    return { asked: { mode, plugins: named ?? null }, repair: { mode, ...(named ? { plugins: named } : {}) } };
  });
}

async function startDrift(
  deps: DriftDeps,
  log: Log,
  input: DriftInput,
  kind: 'verify' | 'repair',
  parse: () => { asked: Record<string, unknown>; repair: OperationRequest['repair'] },
): Promise<Operation> {
  const found = await loadWorkspace(deps.workspaces, input.principal, input.workspaceId, 'manage');
  if (found?.runtime === 'external') throw new ExternalRuntime('plugins are not pushed to external workspaces', { hint: PULL_HINT });
  const workspace = requireLiveWorkspace(input.workspaceId, found);
  const { asked, repair } = parse();
  const replayed = await replayedOperation(deps.operations, workspace.id, input.idempotencyKey, { kind, asked });
  if (replayed) return settled(deps, replayed, input.waitSeconds);
  const { operation, created } = await startOperation(
    { ...deps, log },
    {
      kind,
      workspace,
      source: null,
      plugin: null,
      expectedSha256: null,
      restart: true,
      uninstallAt: null,
      ...(repair ? { repair } : {}),
      idempotencyKey: input.idempotencyKey,
      actorPrefix: input.principal.prefix,
      asked,
      maxInFlightForOrg: input.maxOperationsPerOrg,
    },
  );
  log.info(created ? `${kind} accepted` : `${kind} replayed`, { operationId: operation.operationId, workspaceId: workspace.id, ...asked });
  return settled(deps, operation, input.waitSeconds);
}
