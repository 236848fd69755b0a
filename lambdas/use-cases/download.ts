import { requireAllowedPlugin } from '../plugins/allowlist-policy.js';
import { NO_TRUST, refusalError, signatureVerdict } from '../plugins/signature-policy.js';
import { NameMismatch } from '../shared/errors.js';
import type { Log } from '../shared/logger.js';
import type { Signer, StagedPlugin } from '../shared/types.js';
import type { Principal } from './access.js';
import type { AllowlistStore, Clock, PluginStager, SourceCatalog, TrustStore, WorkspaceStore } from './ports.js';
import { loadWorkspace, requireLiveWorkspace } from './workspace.js';

export interface DownloadInput {
  principal: Principal;
  workspaceId: string;
  plugin: string;
  /** `?source=`; the registry's copy of `plugin` when absent. */
  source?: string;
  /**
   * How long to stage synchronously (`PLUGIN_DOWNLOAD_BUDGET`, under API Gateway's 30 s). Past it
   * the answer is "still staging"; the staging goes on, and the stager hands its result to the retry.
   */
  budgetMs?: number;
}

/** Past the budget: the plugin is still being staged; come back after `retryAfterSeconds`. */
export interface DownloadPending {
  pending: true;
  plugin: string;
  source: string;
  retryAfterSeconds: number;
}

/** What `Retry-After` says while a download is still staging: most plugins stage within a few seconds more. */
export const DOWNLOAD_RETRY_AFTER_SECONDS = 5;

export interface Download {
  url: string;
  plugin: string;
  source: string;
  sha256: string;
  /** A signed plugin's armored signature (SPEC §11), for the puller to check against what it unpacks. */
  signature?: string;
  /** Its signer, when the org trusts the key now. */
  signer?: Signer;
}

export type DownloadDeps = {
  workspaces: WorkspaceStore;
  sources: SourceCatalog;
  allowlist: AllowlistStore;
  stager: PluginStager;
  trust: TrustStore;
  clock: Pick<Clock, 'now'>;
};

/**
 * Stages the plugin (or reuses its staged copy) and hands out a short-lived URL to it (an external
 * workspace pulls instead of being pushed to); `pending` when staging outlasts the budget.
 */
export async function download(deps: DownloadDeps, log: Log, input: DownloadInput): Promise<Download | DownloadPending> {
  const { plugin } = input;
  const workspace = requireLiveWorkspace(input.workspaceId, await loadWorkspace(deps.workspaces, input.principal, input.workspaceId, 'download'));
  const source = deps.sources.validate(input.source || `local://${plugin}`);
  // The org's allowlist governs what its workspaces pull as much as what is pushed to them, origin pins included.
  requireAllowedPlugin(await deps.allowlist.match(workspace.orgId, plugin, source.canonical), plugin, source.canonical);
  const staging = deps.stager.stage(source.raw, log);
  const staged = input.budgetMs === undefined ? await staging : await withinBudget(staging, input.budgetMs);
  if (staged === null) {
    log.info('download still staging past its budget', { source: source.raw, budgetMs: input.budgetMs });
    return { pending: true, plugin, source: source.raw, retryAfterSeconds: DOWNLOAD_RETRY_AFTER_SECONDS };
  }
  if (staged.name !== plugin) {
    throw new NameMismatch(`source resolves to plugin "${staged.name}", not "${plugin}"`, { resolved_name: staged.name, requested_name: plugin });
  }
  const signed = await judgePulledSignature(deps, workspace.orgId, staged, log);
  return { url: await deps.stager.presign(staged), plugin: staged.name, source: source.raw, sha256: staged.sha256, ...signed };
}

/**
 * The org's trust governs what its workspaces pull as it governs what is pushed (SPEC §11): a
 * refused signature is refused here with Stage's answer, whether at the download or when the
 * workspace reports what it pulled. The staged copy is shared by every org that pulls the source,
 * so the verdict is this org's, made now.
 */
export async function judgePulledSignature(
  deps: Pick<DownloadDeps, 'trust' | 'clock'>,
  orgId: string,
  staged: StagedPlugin,
  log: Log,
): Promise<Pick<Download, 'signature' | 'signer'>> {
  const trust = (await deps.trust.get(orgId)) ?? NO_TRUST;
  const signature = staged.signed?.signature;
  // A copy staged before signatures were read says nothing of one: it counts as unsigned.
  const statement = staged.signed?.statement ?? '';
  const verdict = signatureVerdict({ signature, statement, trust, now: deps.clock.now() });
  if (verdict.verdict === 'refused') {
    const err = refusalError(verdict.error);
    log.info('download refused: signature', { code: err.code, reason: err.details.reason, fingerprint: err.details.fingerprint });
    throw err;
  }
  if (verdict.verdict === 'unsigned' || signature === undefined) return {};
  return { signature: signature.armor, ...(verdict.verdict === 'trusted' ? { signer: verdict.signer } : {}) };
}

/** The staged plugin if it is ready within `ms`, else null (the staging itself carries on). */
async function withinBudget<T>(work: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
