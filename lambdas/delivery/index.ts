import type { SSMClient } from '@aws-sdk/client-ssm';
import { DeliveryFailed, PluginNotInstalled } from '../shared/errors.js';
import type { Config } from '../shared/config.js';
import type { Workspace } from '../shared/types.js';
import { runViaEic, type EicDeps } from './eic.js';
import { HostCommandFailed, parseHostResult, type HostCommand, type HostCommandResult, type HostResult } from './host-command.js';
import { installScript, restartScript, uninstallScript } from './host-scripts.js';
import { runViaSsm, type SsmRunOptions } from './ssm.js';
import { chooseTransport, deliverableInstanceId, type DeliveryTransport } from './transport.js';

export { chooseTransport, type DeliveryTransport } from './transport.js';

export interface DeliveryDeps {
  ssm: SSMClient;
  config: Pick<Config, 'configDirFor' | 'restartCommand' | 'deliveryTimeoutMs'>;
  /** EC2 Instance Connect; without it a workspace that needs EIC fails as delivery_failed. */
  eic?: EicDeps;
  now?: () => Date;
  /** The invocation's remaining time (Lambda `getRemainingTimeInMillis`): host commands end within it. */
  remainingMs?: () => number;
  signal?: AbortSignal;
  /** Faster polling suits the local stack and tests; the defaults suit real SSM. */
  ssmPolling?: Pick<SsmRunOptions, 'pollIntervalMs' | 'maxPollIntervalMs' | 'documentName'>;
}

export interface InstallOutcome {
  transport: DeliveryTransport;
  replacedPrevious: boolean;
  /** The runtime hot-reloads SKILL.md files, so such a change needs no restart (SPEC §5). */
  changedOnlySkillDocs: boolean;
}

export interface RemoveOutcome {
  transport: DeliveryTransport;
  removedSkills: number;
  /** A declared skill dir the plugin does not own (not its copy) is kept, and said so here. */
  warnings: string[];
}

/** Installs the staged tarball (fetched by the host from `tarballUrl`) into the workspace. */
export async function deliverInstall(
  deps: DeliveryDeps,
  { workspace, pluginName, tarballUrl }: { workspace: Workspace; pluginName: string; tarballUrl: string },
): Promise<InstallOutcome> {
  const script = installScript({
    configDir: deps.config.configDirFor(workspace.runtime),
    pluginName,
    tarballUrl,
    ts: compactTimestamp((deps.now ?? (() => new Date()))()),
  });
  const { transport, result } = await runOnWorkspace(deps, workspace, script);
  if (!result.ok) throw new DeliveryFailed('the workspace reported a failed install', { workspaceId: workspace.id, step: result.step });
  return {
    transport,
    replacedPrevious: result.replacedPrevious ?? false,
    changedOnlySkillDocs: result.changedOnlySkillDocs ?? false,
  };
}

/** Removes the plugin, its marker blocks and the skills it owns from the workspace. */
export async function removePlugin(
  deps: DeliveryDeps,
  { workspace, pluginName, skills = [] }: { workspace: Workspace; pluginName: string; skills?: readonly string[] },
): Promise<RemoveOutcome> {
  const script = uninstallScript({ configDir: deps.config.configDirFor(workspace.runtime), pluginName, skills });
  const { transport, result } = await runOnWorkspace(deps, workspace, script);
  if (result.code === 'plugin_not_installed') {
    throw new PluginNotInstalled(`plugin "${pluginName}" is not installed`, { workspaceId: workspace.id, plugin: pluginName });
  }
  if (!result.ok) throw new DeliveryFailed('the workspace reported a failed uninstall', { workspaceId: workspace.id, step: result.step });
  const warnings = (result.keptSkills ?? []).map((skill) => `kept skills/${skill}: it is not the copy ${pluginName} installed`);
  return { transport, removedSkills: result.removedSkills ?? 0, warnings };
}

/** Runs the configured restart command on the workspace's host. */
export async function restartWorkspace(deps: DeliveryDeps, { workspace }: { workspace: Workspace }): Promise<{ transport: DeliveryTransport }> {
  const script = restartScript({ workspaceId: workspace.id, command: deps.config.restartCommand });
  const { transport } = await runOnWorkspace(deps, workspace, script);
  return { transport };
}

const RUNNERS: Record<DeliveryTransport, (deps: DeliveryDeps, command: HostCommand) => Promise<HostCommandResult>> = {
  ssm: (deps, command) => runViaSsm(deps.ssm, { ...deps.ssmPolling, ...command }),
  eic: (deps, command) => runViaEic(deps.eic, command),
};

async function runOnWorkspace(
  deps: DeliveryDeps,
  workspace: Workspace,
  script: string,
): Promise<{ transport: DeliveryTransport; result: HostResult }> {
  const instanceId = deliverableInstanceId(workspace);
  const transport = await chooseTransport(workspace, deps);
  const context = { workspaceId: workspace.id, instanceId, transport };
  let output: HostCommandResult;
  try {
    output = await RUNNERS[transport](deps, { instanceId, script, ...commandBounds(deps), signal: deps.signal });
  } catch (err) {
    throw explained(err);
  }
  const result = parseHostResult(output.stdout);
  if (!result) throw new DeliveryFailed('the workspace did not report the outcome of the delivery command', context);
  return { transport, result };
}

/** Never more is kept back from the invocation than this, to cancel the command and end the step. */
const MAX_RESERVE_MS = 20_000;

/**
 * The host's bound and the wait's deadline. Within an invocation the wait ends a reserve before it
 * does (the command is cancelled then), and the host's own bound falls half a reserve later: if
 * the invocation dies before it can cancel, the host still stops the script before it would have ended.
 */
function commandBounds(deps: DeliveryDeps): Pick<HostCommand, 'timeoutMs' | 'deadline'> {
  const remaining = deps.remainingMs?.();
  if (remaining === undefined) return { timeoutMs: deps.config.deliveryTimeoutMs };
  const reserve = Math.min(MAX_RESERVE_MS, remaining / 4);
  return {
    timeoutMs: Math.max(1_000, Math.min(deps.config.deliveryTimeoutMs, remaining - reserve / 2)),
    deadline: Date.now() + remaining - reserve,
  };
}

const STEP_MESSAGES: Record<string, string> = {
  download: 'the workspace could not download the staged plugin',
  unpack: 'the workspace could not unpack the plugin archive',
  chown: 'the workspace could not hand the plugin files to the agent user',
  compare: 'the workspace could not compare the plugin with the installed version',
  swap: 'the workspace could not put the new plugin version in place',
  manifest: 'the workspace could not read the installed plugin manifest',
  markers: 'the workspace could not remove the plugin from CLAUDE.md or AGENTS.md',
  skills: "the workspace could not remove the plugin's skills",
  remove: 'the workspace could not remove the plugin directory',
  restart: 'the workspace restart command failed',
};

/**
 * A failed script names the step it failed in; say which, in our words, not the host's. Always a
 * plain DeliveryFailed, the name the workflow matches on.
 */
function explained(err: unknown): unknown {
  if (!(err instanceof HostCommandFailed)) return err;
  const { hostResult, status } = err.failure;
  const message = hostResult?.step ? STEP_MESSAGES[hostResult.step] : undefined;
  if (!message) return new DeliveryFailed(err.message, err.details, { cause: err });
  const timedOut = status === 'TimedOut' ? ' (the command timed out)' : '';
  const suffix = hostResult?.restored === false ? '; the previous version could not be restored' : '';
  return new DeliveryFailed(`${message}${timedOut}${suffix}`, err.details, { cause: err });
}

/** `2024-05-01T12:00:00.123Z` → `20240501T120000123Z`: sortable and safe in a file name. */
function compactTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:.]/g, '');
}
