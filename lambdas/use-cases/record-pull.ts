import { requireAllowedPlugin } from '../plugins/allowlist-policy.js';
import { Forbidden, IntegrityMismatch } from '../shared/errors.js';
import type { Log } from '../shared/logger.js';
import type { Principal } from './access.js';
import type { AllowlistStore, Clock, InstalledStore, PluginStager, SourceCatalog, TrustStore, WorkspaceStore } from './ports.js';
import { judgePulledSignature } from './download.js';
import type { InstallRequest } from './install.js';
import { requireSameOrigin } from '../plugins/origin-conflict.js';
import { loadWorkspace, requireLiveWorkspace } from './workspace.js';

export interface RecordPullInput {
  principal: Extract<Principal, { kind: 'workspace' }>;
  workspaceId: string;
  request: () => InstallRequest;
}

export interface PulledPlugin {
  plugin: string;
  source: string;
  version: string | null;
  sha256: string;
}

export type RecordPullDeps = {
  workspaces: WorkspaceStore;
  sources: SourceCatalog;
  allowlist: AllowlistStore;
  installed: InstalledStore;
  stager: PluginStager;
  trust: TrustStore;
  clock: Pick<Clock, 'now'>;
};

/**
 * An external workspace reports, with its own token, a plugin it pulled itself (the Python SDK's
 * `install_plugin` posts `{"source"}` after unpacking). Nothing is pushed: the source is staged to
 * learn what it is (name, version, content hash), checked as a push install would be (allowlist
 * with its origin, its signature against the org's trust, no silent replacement of another origin)
 * and recorded as `installedVia: pull`.
 * Any other workspace is pushed to by the platform, so its own token may not install there.
 */
export async function recordPull(deps: RecordPullDeps, log: Log, input: RecordPullInput): Promise<PulledPlugin> {
  const found = await loadWorkspace(deps.workspaces, input.principal, input.workspaceId, 'read');
  if (found?.runtime !== 'external') throw new Forbidden('a workspace token may only read its own plugins and download them');
  const workspace = requireLiveWorkspace(input.workspaceId, found);
  const request = input.request();
  const source = deps.sources.validate(request.source);
  const staged = await deps.stager.stage(source.canonical, log);
  if (request.sha256 !== undefined && request.sha256 !== staged.sha256) {
    throw new IntegrityMismatch(`sha256 mismatch: expected ${request.sha256}, got ${staged.sha256}`, { expected: request.sha256, actual: staged.sha256 });
  }
  requireAllowedPlugin(await deps.allowlist.match(workspace.orgId, staged.name, source.canonical), staged.name, source.canonical);
  await judgePulledSignature(deps, workspace.orgId, staged, log);
  requireSameOrigin(await deps.installed.get(workspace.id, staged.name), { plugin: staged.name, source: source.canonical, replace: request.replace ?? false });
  await deps.installed.record({
    workspaceId: workspace.id,
    name: staged.name,
    version: staged.version,
    source: source.canonical,
    sha256: staged.sha256,
    skills: staged.skills,
    runtimes: staged.runtimes,
    uninstallAt: null,
    installedVia: 'pull',
  });
  log.info('pulled plugin recorded', { workspaceId: workspace.id, plugin: staged.name, source: source.canonical, sha256: staged.sha256 });
  return { plugin: staged.name, source: source.canonical, version: staged.version, sha256: staged.sha256 };
}
