import { InvalidRequest, NotFound, OrgNotFound } from '../shared/errors.js';
import type { Log } from '../shared/logger.js';
import { INSTANCE_ID_RE, type Workspace } from '../shared/types.js';
import type { WorkspaceInput } from '../store/workspaces.js';
import type { TokenStore, WorkspaceStore } from './ports.js';
import { requireLiveWorkspace } from './workspace.js';

/** The platform's own calls: workspaces and tokens. Their routes take the admin token only (checked at the edge). */

export async function putWorkspace(
  deps: { workspaces: WorkspaceStore },
  log: Log,
  input: { workspaceId: string; body: WorkspaceInput },
): Promise<{ workspace: Workspace; created: boolean }> {
  const { body } = input;
  if (body.instanceId && !INSTANCE_ID_RE.test(body.instanceId)) throw new InvalidRequest('instanceId must look like i-0123456789abcdef0');
  const result = await deps.workspaces.upsert(input.workspaceId, body);
  log.info(result.created ? 'workspace created' : 'workspace updated', { workspaceId: input.workspaceId, orgId: body.orgId });
  return result;
}

type MintDeps = { workspaces: WorkspaceStore; tokens: TokenStore };
type Minted = { token: string; prefix: string };

export async function mintWorkspaceToken(deps: MintDeps, log: Log, input: { workspaceId: string }): Promise<Minted> {
  const workspace = requireLiveWorkspace(input.workspaceId, await deps.workspaces.get(input.workspaceId));
  const minted = await deps.tokens.mint('workspace', { orgId: workspace.orgId, workspaceId: workspace.id });
  log.info('workspace token minted', { workspaceId: workspace.id, prefix: minted.prefix });
  return minted;
}

export async function mintOrgToken(deps: MintDeps, log: Log, input: { orgId: string }): Promise<Minted> {
  if (!(await deps.workspaces.orgExists(input.orgId))) throw new OrgNotFound(`org "${input.orgId}" not found`);
  const minted = await deps.tokens.mint('org', { orgId: input.orgId });
  log.info('org token minted', { orgId: input.orgId, prefix: minted.prefix });
  return minted;
}

export async function revokeToken(deps: { tokens: TokenStore }, log: Log, input: { prefix: string }): Promise<{ prefix: string; revoked: number }> {
  const revoked = await deps.tokens.revokeByPrefix(input.prefix);
  if (revoked === 0) throw new NotFound(`no live token with prefix "${input.prefix}"`);
  log.info('token revoked', { prefix: input.prefix, revoked });
  return { prefix: input.prefix, revoked };
}
