import type { AllowlistEntry, AllowlistInput } from '../store/allowlist.js';
import type { Log } from '../shared/logger.js';
import { authorizeOrg, type Principal } from './access.js';
import type { AllowlistStore, WorkspaceStore } from './ports.js';

/** An org's plugin allowlist: its own org token or the admin token. */

export async function readAllowlist(
  deps: { workspaces: WorkspaceStore; allowlist: AllowlistStore },
  input: { principal: Principal; orgId: string },
): Promise<AllowlistEntry[]> {
  authorizeOrg(input.principal, input.orgId, await deps.workspaces.orgExists(input.orgId));
  return deps.allowlist.get(input.orgId);
}

export async function replaceAllowlist(
  deps: { workspaces: WorkspaceStore; allowlist: AllowlistStore },
  log: Log,
  input: { principal: Principal; orgId: string; body: () => { plugins: AllowlistInput[]; enabled_by: string } },
): Promise<AllowlistEntry[]> {
  authorizeOrg(input.principal, input.orgId, await deps.workspaces.orgExists(input.orgId));
  const body = input.body();
  const plugins = await deps.allowlist.replace(input.orgId, body.plugins, body.enabled_by);
  log.info('allowlist replaced', { orgId: input.orgId, count: plugins.length });
  return plugins;
}
