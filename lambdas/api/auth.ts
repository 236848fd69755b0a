import { timingSafeEqual, createHash } from 'node:crypto';
import type { Queryable } from '../store/db.js';
import { findToken } from '../store/tokens.js';
import { Forbidden, OrgNotFound, Unauthorized, WorkspaceNotFound } from '../shared/errors.js';
import type { Workspace } from '../shared/types.js';

export type Principal =
  | { kind: 'admin'; prefix: 'admin' }
  | { kind: 'org'; orgId: string; prefix: string }
  | { kind: 'workspace'; orgId: string; workspaceId: string; prefix: string };

/** `manage` = install/uninstall/operations; `read` = listings; `download` = the pull endpoint. */
export type WorkspaceAccess = 'manage' | 'read' | 'download';

export function bearerToken(authorization: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1] ?? null;
}

/** Compares digests so neither the length nor the content of the admin token leaks through timing. */
export function isAdminToken(presented: string, adminToken: string | undefined): boolean {
  if (!adminToken) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(adminToken).digest();
  return timingSafeEqual(a, b);
}

export async function authenticate(db: Queryable, adminToken: string | undefined, authorization: string | undefined): Promise<Principal> {
  const token = bearerToken(authorization);
  if (!token) throw new Unauthorized('expected an Authorization header of the form "Bearer <token>"');
  if (isAdminToken(token, adminToken)) return { kind: 'admin', prefix: 'admin' };
  const record = await findToken(db, token);
  if (!record || !record.orgId) throw new Unauthorized('invalid or revoked token');
  if (record.kind === 'workspace' && record.workspaceId) {
    return { kind: 'workspace', orgId: record.orgId, workspaceId: record.workspaceId, prefix: record.prefix };
  }
  if (record.kind === 'org') return { kind: 'org', orgId: record.orgId, prefix: record.prefix };
  throw new Unauthorized('invalid or revoked token');
}

/**
 * Decides whether `principal` may touch `workspace` (null = does not exist). Another org's
 * workspace answers exactly like a missing one, so ids never leak across tenants.
 */
export function authorizeWorkspace(principal: Principal, workspaceId: string, workspace: Workspace | null, access: WorkspaceAccess): void {
  if (principal.kind === 'admin') return;
  const visible =
    workspace !== null &&
    (principal.kind === 'org' ? workspace.orgId === principal.orgId : workspace.id === principal.workspaceId);
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
