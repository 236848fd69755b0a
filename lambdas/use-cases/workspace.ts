import { WorkspaceNotFound } from '../shared/errors.js';
import type { Workspace } from '../shared/types.js';
import { authorizeWorkspace, type Principal, type WorkspaceAccess } from './access.js';
import type { WorkspaceStore } from './ports.js';

/** Loads the workspace and checks the caller may touch it; `null` only for an admin naming an unknown id. */
export async function loadWorkspace(workspaces: WorkspaceStore, principal: Principal, id: string, access: WorkspaceAccess): Promise<Workspace | null> {
  const workspace = await workspaces.get(id);
  authorizeWorkspace(principal, id, workspace, access);
  return workspace;
}

/** A route's workspace, or 404. */
export function requireWorkspace(id: string, workspace: Workspace | null): Workspace {
  if (!workspace) throw new WorkspaceNotFound(`workspace "${id}" not found`);
  return workspace;
}

/** A workspace the platform removed keeps its history for reading but takes no more changes (or tokens). */
export function requireLiveWorkspace(id: string, workspace: Workspace | null): Workspace {
  const found = requireWorkspace(id, workspace);
  if (found.status === 'removed') throw new WorkspaceNotFound(`workspace "${id}" was removed`);
  return found;
}
