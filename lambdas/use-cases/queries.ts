import { OperationNotFound } from '../shared/errors.js';
import type { InstalledPlugin } from '../store/installed.js';
import type { OperationFilter, OperationPage } from '../store/operations.js';
import type { Operation } from '../shared/types.js';
import type { Principal } from './access.js';
import type { InstalledStore, OperationStore, RegistryEntry, RegistryReader, WorkspaceStore } from './ports.js';
import { loadWorkspace, requireWorkspace } from './workspace.js';
import { supportsRuntime } from '@molecule/plugins-sdk/contract/runtimes';

/** The read side: what is installed, what could be, and how an operation went. */

export async function listInstalledPlugins(
  deps: { workspaces: WorkspaceStore; installed: InstalledStore },
  input: { principal: Principal; workspaceId: string },
): Promise<Array<InstalledPlugin & { supportedOnRuntime: boolean }>> {
  const workspace = requireWorkspace(input.workspaceId, await loadWorkspace(deps.workspaces, input.principal, input.workspaceId, 'read'));
  const installed = await deps.installed.list(workspace.id);
  return installed.map((p) => ({ ...p, supportedOnRuntime: supportsRuntime(p.runtimes, workspace.runtime) }));
}

export async function availablePlugins(
  deps: { workspaces: WorkspaceStore; registry: RegistryReader },
  input: { principal: Principal; workspaceId: string },
): Promise<RegistryEntry[]> {
  const workspace = requireWorkspace(input.workspaceId, await loadWorkspace(deps.workspaces, input.principal, input.workspaceId, 'read'));
  return registryFor(deps.registry, workspace.runtime);
}

/** The registry, or only what runs on `runtime` when one is named (`claude_code` and `claude-code` are one runtime). */
export async function registryFor(registry: RegistryReader, runtime: string | undefined): Promise<RegistryEntry[]> {
  const entries = await registry.list();
  return runtime ? entries.filter((e) => supportsRuntime(e.runtimes, runtime)) : entries;
}

export async function operationStatus(
  deps: { workspaces: WorkspaceStore; operations: OperationStore },
  input: { principal: Principal; workspaceId: string; operationId: string },
): Promise<Operation> {
  const workspace = requireWorkspace(input.workspaceId, await loadWorkspace(deps.workspaces, input.principal, input.workspaceId, 'manage'));
  const operation = await deps.operations.get(input.operationId);
  if (!operation || operation.workspaceId !== workspace.id) throw new OperationNotFound(`operation "${input.operationId}" not found`);
  return operation;
}

/** One page of the ops view, newest first (the caller checked the admin scope). */
export async function operationsPage(deps: { operations: OperationStore }, filter: OperationFilter): Promise<OperationPage> {
  return deps.operations.list(filter);
}

/** Any operation by its id (the ops view: no workspace needed; the caller checked the admin scope). */
export async function operationById(deps: { operations: OperationStore }, operationId: string): Promise<Operation> {
  const operation = await deps.operations.get(operationId);
  if (!operation) throw new OperationNotFound(`operation "${operationId}" not found`);
  return operation;
}
