import { NameMismatch } from '../shared/errors.js';
import type { Log } from '../shared/logger.js';
import type { Principal } from './access.js';
import type { AllowlistStore, PluginStager, SourceCatalog, WorkspaceStore } from './ports.js';
import { loadWorkspace, requireLiveWorkspace } from './workspace.js';

export interface DownloadInput {
  principal: Principal;
  workspaceId: string;
  plugin: string;
  /** `?source=`; the registry's copy of `plugin` when absent. */
  source?: string;
}

export interface Download {
  url: string;
  plugin: string;
  source: string;
  sha256: string;
}

export type DownloadDeps = { workspaces: WorkspaceStore; sources: SourceCatalog; allowlist: AllowlistStore; stager: PluginStager };

/** Stages the plugin now and hands out a short-lived URL to it (an external workspace pulls instead of being pushed to). */
export async function download(deps: DownloadDeps, log: Log, input: DownloadInput): Promise<Download> {
  const { plugin } = input;
  const workspace = requireLiveWorkspace(input.workspaceId, await loadWorkspace(deps.workspaces, input.principal, input.workspaceId, 'download'));
  const source = deps.sources.validate(input.source || `local://${plugin}`);
  // The org's allowlist governs what its workspaces pull as much as what is pushed to them, origin pins included.
  await deps.allowlist.requireAllowed(workspace.orgId, plugin, source.canonical);
  const staged = await deps.stager.stage(source.raw, log);
  if (staged.name !== plugin) {
    throw new NameMismatch(`source resolves to plugin "${staged.name}", not "${plugin}"`, { resolved_name: staged.name, requested_name: plugin });
  }
  return { url: await deps.stager.presign(staged), plugin: staged.name, source: source.raw, sha256: staged.sha256 };
}
