import { Forbidden, OrgNotFound, WorkspaceNotFound } from '../shared/errors.js';
import type { Workspace } from '../shared/types.js';

/** Who is asking, as the API authenticated them; every use case decides on this. */
export type Principal =
  | { kind: 'admin'; prefix: 'admin' }
  | { kind: 'org'; orgId: string; prefix: string }
  | { kind: 'workspace'; orgId: string; workspaceId: string; prefix: string };

/** `manage` = install/uninstall/operations; `read` = listings; `download` = the pull endpoint. */
export type WorkspaceAccess = 'manage' | 'read' | 'download';

/**
 * Decides whether `principal` may touch `workspace` (null = does not exist). Another org's
 * workspace answers exactly like a missing one, so ids never leak across tenants.
 */
export function authorizeWorkspace(principal: Principal, workspaceId: string, workspace: Workspace | null, access: WorkspaceAccess): void {
  if (principal.kind === 'admin') return;
  const visible = workspace !== null && (principal.kind === 'org' ? workspace.orgId === principal.orgId : workspace.id === principal.workspaceId);
  if (!visible) throw new WorkspaceNotFound(`workspace "${workspaceId}" not found`);
  if (principal.kind === 'workspace' && access === 'manage') {
    throw new Forbidden('a workspace token may only read its own plugins and download them');
  }
  if (principal.kind === 'org' && access === 'download') {
    throw new Forbidden('downloads need the workspace token or an admin token');
  }
}

export function requireAdmin(principal: Principal): void {
  if (principal.kind !== 'admin') throw new Forbidden('this route needs the admin token');
}

/** Org-scoped routes: an org token only for its own org (another org answers 404), admin for any. */
export function authorizeOrg(principal: Principal, orgId: string, orgFound: boolean): void {
  if (principal.kind === 'admin') {
    if (!orgFound) throw new OrgNotFound(`org "${orgId}" not found`);
    return;
  }
  if (principal.kind !== 'org') throw new Forbidden('this route needs an org or admin token');
  if (principal.orgId !== orgId || !orgFound) throw new OrgNotFound(`org "${orgId}" not found`);
}
