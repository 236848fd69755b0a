import type { SSMClient } from '@aws-sdk/client-ssm';
import * as z from '../shared/zod.js';
import { DeliveryFailed, PluginNotInstalled } from '../shared/errors.js';
import type { Config } from '../shared/config.js';
import type { TransportTaken, Workspace } from '../shared/types.js';
import { runViaEic, type EicDeps } from './eic.js';
import { HostCommandFailed, parseHostResult, type HostCommand, type HostCommandResult, type HostResult } from './host-command.js';
import { cleanScript, healthScript, installScript, inventoryScript, probeScript, restartScript, uninstallScript, type InstallMarker } from './host-scripts.js';
import { runViaSsm, type SsmRunOptions } from './ssm.js';
import { chooseTransport, deliverableInstanceId, type DeliveryRoute } from './transport.js';
import type { DeliveredPlugin } from './host-scripts.js';

export { chooseTransport, type DeliveryRoute } from './transport.js';
export type { DeliveredPlugin, InstallMarker } from './host-scripts.js';
export { DEBRIS_PATH_RE } from './host-scripts.js';

export interface DeliveryDeps {
  ssm: SSMClient;
  /**
   * The health settings are needed by `verifyHealth` only, which refuses to run without them;
   * optional so the many deps written for the other operations stay valid.
   */
  config: Pick<Config, 'configDirFor' | 'restartCommand' | 'deliveryTimeoutMs' | 'healthCommandFor' | 'healthTimeoutMs'>;
  /** EC2 Instance Connect; without it a workspace that needs EIC fails as delivery_failed. */
  eic?: EicDeps;
  now?: () => Date;
  /** The invocation's remaining time (Lambda `getRemainingTimeInMillis`): host commands end within it. */
  remainingMs?: () => number;
  signal?: AbortSignal;
  /** Faster polling suits the local stack and tests; the defaults suit real SSM. */
  ssmPolling?: Pick<SsmRunOptions, 'pollIntervalMs' | 'maxPollIntervalMs' | 'documentName'>;
}

/** How the host was reached, for ops: the SSM command id or the SSH host. */
export interface HostReach {
  commandId?: string;
  sshHost?: string;
}

export interface InstallOutcome extends HostReach {
  transport: TransportTaken;
  replacedPrevious: boolean;
  /** The runtime hot-reloads SKILL.md files, so such a change needs no restart (SPEC §5). */
  changedOnlySkillDocs: boolean;
}

export interface RemoveOutcome extends HostReach {
  transport: TransportTaken;
  removedSkills: number;
  /** A declared skill dir the plugin does not own (not its copy) is kept, and said so here. */
  warnings: string[];
}

/** Installs the staged tarball (fetched by the host from `tarballUrl`) into the workspace. */
export async function deliverInstall(
  deps: DeliveryDeps,
  { workspace, pluginName, tarballUrl, installed }: { workspace: Workspace; pluginName: string; tarballUrl: string; installed?: InstallMarker },
): Promise<InstallOutcome> {
  const script = installScript({
    configDir: deps.config.configDirFor(workspace.runtime),
    pluginName,
    tarballUrl,
    ...(installed ? { installed } : {}),
    ts: compactTimestamp((deps.now ?? (() => new Date()))()),
  });
  const { transport, result, reach } = await runOnWorkspace(deps, workspace, script);
  if (!result.ok) throw new DeliveryFailed('the workspace reported a failed install', { workspaceId: workspace.id, step: result.step, transport, ...reach });
  return {
    transport,
    ...reach,
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
  const { transport, result, reach } = await runOnWorkspace(deps, workspace, script);
  if (result.code === 'plugin_not_installed') {
    throw new PluginNotInstalled(`plugin "${pluginName}" is not installed`, { workspaceId: workspace.id, plugin: pluginName });
  }
  if (!result.ok) throw new DeliveryFailed('the workspace reported a failed uninstall', { workspaceId: workspace.id, step: result.step, transport, ...reach });
  const warnings = (result.keptSkills ?? []).map((skill) => `kept skills/${skill}: it is not the copy ${pluginName} installed`);
  return { transport, ...reach, removedSkills: result.removedSkills ?? 0, warnings };
}

/** Runs the configured restart command on the workspace's host. */
export async function restartWorkspace(deps: DeliveryDeps, { workspace }: { workspace: Workspace }): Promise<{ transport: TransportTaken } & HostReach> {
  const script = restartScript({ workspaceId: workspace.id, command: deps.config.restartCommand, configDir: deps.config.configDirFor(workspace.runtime) });
  const { transport, reach } = await runOnWorkspace(deps, workspace, script);
  return { transport, ...reach };
}

export interface HealthVerdict extends HostReach {
  transport: TransportTaken;
  healthy: boolean;
  /** Unhealthy only: true when the host is back as it was before the operation (a removed first install included); false when putting it back failed. null when healthy. */
  rolledBack: boolean | null;
  /** The check's last output lines (stdout+stderr of the last run), at most 20 lines and 4 KiB in all. */
  output: string[];
  /** How many times the check ran. */
  checks: number;
}

/**
 * What the gate may take on the host besides the checks: the last run's overrun and kill grace,
 * and putting the plugin back. The restart after it has the bound a Restart step has.
 */
const HEALTH_GATE_SLACK_MS = 30_000;

/**
 * The health gate (SPEC §9), after a restart: the host runs the runtime's check until it passes or
 * `healthTimeoutMs` has passed, and when it does not, puts back what was there before for every
 * plugin the change delivered and restarts again (scripts/health.sh). Either is a verdict, not an
 * error; a gate that could not run throws DeliveryFailed (step `health`).
 */
export async function verifyHealth(
  deps: DeliveryDeps,
  { workspace, plugins }: { workspace: Workspace; plugins: readonly DeliveredPlugin[] },
): Promise<HealthVerdict> {
  const { healthCommandFor, healthTimeoutMs, deliveryTimeoutMs, restartCommand } = deps.config;

  const script = healthScript({
    configDir: deps.config.configDirFor(workspace.runtime),
    plugins,
    workspaceId: workspace.id,
    command: healthCommandFor(workspace.runtime),
    timeoutSeconds: healthTimeoutMs / 1000,
    restartCommand,
    restartTimeoutSeconds: deliveryTimeoutMs / 1000,
  });
  // The whole gate, not one delivery command: the checks, putting back and a restart.
  const hostBoundMs = healthTimeoutMs + HEALTH_GATE_SLACK_MS + deliveryTimeoutMs;
  const { transport, result, reach } = await runOnWorkspace(deps, workspace, script, hostBoundMs);
  if (!result.ok || result.healthy === undefined || result.checks === undefined) {
    throw new DeliveryFailed('the workspace did not report the outcome of the health check', { workspaceId: workspace.id, transport, ...reach });
  }
  return {
    transport,
    ...reach,
    healthy: result.healthy,
    rolledBack: result.healthy ? null : (result.rolledBack ?? false),
    output: outputLines(fromBase64(result.output)),
    checks: result.checks,
  };
}

const MAX_OUTPUT_LINES = 20;
const MAX_OUTPUT_BYTES = 4096;

/**
 * The check's output as lines, bounded here too (the host is not trusted to have done it):
 * control characters dropped, since the lines end up in an operation's error.
 */
function outputLines(text: string): string[] {
  const lines = text
    .replace(/\r\n?/g, '\n')
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '')
    .split('\n');
  if (lines.at(-1) === '') lines.pop();
  const kept = lines.slice(-MAX_OUTPUT_LINES);
  let bytes = kept.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);
  while (bytes > MAX_OUTPUT_BYTES && kept.length > 0) bytes -= Buffer.byteLength(kept.shift() ?? '') + 1;
  return kept;
}

/**
 * What the host has for one plugin: absent, or present with its plugin.yaml version and, when
 * the install marker was written for this very directory, what the last install put there
 * (`installed: null`: the directory's identity is unknown, e.g. installed before markers existed).
 */
export type HostProbe =
  | { present: false; transport: TransportTaken }
  | { present: true; transport: TransportTaken; version: string | null; installed: InstallMarker | null };

const MarkerFile = z.object({
  dir: z.string(),
  install: z.object({
    sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
    source: z.string().check(z.minLength(1)),
    version: z.nullable(z.string()),
    skills: z.array(z.string()),
    runtimes: z.array(z.string()),
  }),
});

/** Asks the host what it has for `pluginName`, changing nothing (the reconciler's question). */
export async function probePlugin(deps: DeliveryDeps, { workspace, pluginName }: { workspace: Workspace; pluginName: string }): Promise<HostProbe> {
  const script = probeScript({ configDir: deps.config.configDirFor(workspace.runtime), pluginName });
  const { transport, result } = await runOnWorkspace(deps, workspace, script);
  if (!result.ok || result.present === undefined) throw new DeliveryFailed('the workspace did not report what it has installed', { workspaceId: workspace.id });
  if (!result.present) return { present: false, transport };
  const marker = MarkerFile.safeParse(parseJson(fromBase64(result.marker)));
  const installed = marker.success && marker.data.dir === result.dirId ? marker.data.install : null;
  return { present: true, transport, version: manifestVersion(fromBase64(result.version)), installed };
}

/** What a host reported of its inventory (SPEC §12): uploaded to the URL it was given. */
export interface InventoryOutcome extends HostReach {
  transport: TransportTaken;
  /** The gzipped inventory's size. */
  bytes: number;
  /** How many plugin files it lists. */
  files: number;
}

/** The largest inventory a host uploads: far above 500 plugins of 10 000 files in all (about 1 MB). */
export const MAX_INVENTORY_UPLOAD_BYTES = 64 * 1024 * 1024;

/**
 * The host inventories plugins/ read-only and uploads it to `uploadUrl` (scripts/inventory.sh);
 * only a short result line comes back through the transport, whatever the host holds.
 */
export async function inventoryHost(deps: DeliveryDeps, { workspace, uploadUrl }: { workspace: Workspace; uploadUrl: string }): Promise<InventoryOutcome> {
  const script = inventoryScript({
    configDir: deps.config.configDirFor(workspace.runtime),
    uploadUrl,
    uploadTimeoutSeconds: deps.config.deliveryTimeoutMs / 1000,
    maxBytes: MAX_INVENTORY_UPLOAD_BYTES,
  });
  const { transport, result, reach } = await runOnWorkspace(deps, workspace, script);
  if (result.code === 'inventory_too_large') {
    throw new DeliveryFailed(`the workspace inventory is larger than ${MAX_INVENTORY_UPLOAD_BYTES} bytes (${result.files ?? '?'} plugin files)`, {
      workspaceId: workspace.id,
      transport,
      ...reach,
    });
  }
  if (!result.ok || result.bytes === undefined) {
    throw new DeliveryFailed('the workspace did not report its inventory', { workspaceId: workspace.id, step: result.step, transport, ...reach });
  }
  return { transport, ...reach, bytes: result.bytes, files: result.files ?? 0 };
}

/** Removes these debris paths (relative to plugins/) and nothing else (scripts/clean.sh). */
export async function removeDebris(
  deps: DeliveryDeps,
  { workspace, paths }: { workspace: Workspace; paths: readonly string[] },
): Promise<{ transport: TransportTaken; removed: number } & HostReach> {
  const script = cleanScript({ configDir: deps.config.configDirFor(workspace.runtime), paths });
  const { transport, result, reach } = await runOnWorkspace(deps, workspace, script);
  if (!result.ok) throw new DeliveryFailed('the workspace reported a failed clean-up', { workspaceId: workspace.id, step: result.step, transport, ...reach });
  return { transport, ...reach, removed: result.removed ?? 0 };
}

const fromBase64 = (text: string | undefined) => Buffer.from(text ?? '', 'base64').toString('utf8');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** The value of a `version:` line as probe.sh read it: comment and quotes dropped; empty is none. */
function manifestVersion(line: string): string | null {
  const value = line
    .replace(/\s+#.*$/, '')
    .trim()
    .replace(/^(["'])(.*)\1$/, '$2');
  return value === '' ? null : value;
}

type Ran = { transport: TransportTaken; output: HostCommandResult };

const RUNNERS: Record<DeliveryRoute, (deps: DeliveryDeps, command: HostCommand) => Promise<Ran>> = {
  ssm: async (deps, command) => ({ transport: 'ssm', output: await runViaSsm(deps.ssm, { ...deps.ssmPolling, ...command }) }),
  eic: (deps, command) => runViaEic(deps.eic, command),
};

async function runOnWorkspace(
  deps: DeliveryDeps,
  workspace: Workspace,
  script: string,
  hostBoundMs = deps.config.deliveryTimeoutMs,
): Promise<{ transport: TransportTaken; result: HostResult; reach: HostReach }> {
  const instanceId = deliverableInstanceId(workspace);
  const route = await chooseTransport(workspace, deps);
  let ran: Ran;
  try {
    ran = await RUNNERS[route](deps, { instanceId, script, ...commandBounds(deps, hostBoundMs), signal: deps.signal });
  } catch (err) {
    throw explained(err);
  }
  const { transport, output } = ran;
  const context = { workspaceId: workspace.id, instanceId, transport };
  const reach: HostReach = { ...(output.commandId ? { commandId: output.commandId } : {}), ...(output.sshHost ? { sshHost: output.sshHost } : {}) };
  const result = parseHostResult(output.stdout);
  if (!result) throw new DeliveryFailed('the workspace did not report the outcome of the delivery command', { ...context, ...reach });
  return { transport, result, reach };
}

/** Never more is kept back from the invocation than this, to cancel the command and end the step. */
const MAX_RESERVE_MS = 20_000;

/**
 * The host's bound (`hostBoundMs`, cut to the invocation's time) and the wait's deadline. Within
 * an invocation the wait ends a reserve before it does (the command is cancelled then), and the
 * host's own bound falls half a reserve later: if the invocation dies before it can cancel, the
 * host still stops the script before it would have ended.
 */
function commandBounds(deps: DeliveryDeps, hostBoundMs: number): Pick<HostCommand, 'timeoutMs' | 'deadline'> {
  const remaining = deps.remainingMs?.();
  if (remaining === undefined) return { timeoutMs: hostBoundMs };
  const reserve = Math.min(MAX_RESERVE_MS, remaining / 4);
  return {
    timeoutMs: Math.max(1_000, Math.min(hostBoundMs, remaining - reserve / 2)),
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
  marker: 'the workspace could not record what it installed',
  probe: 'the workspace could not report what it has installed',
  health: 'the workspace could not run the health check',
  inventory: 'the workspace could not list its plugins',
  pack: 'the workspace could not pack its inventory',
  upload: 'the workspace could not upload its inventory',
  clean: 'the workspace could not remove the debris',
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
