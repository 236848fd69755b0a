import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { PLUGIN_NAME_RE } from '../shared/types.js';
import { RESULT_PREFIX } from './host-command.js';
import { shellQuote } from './shell.js';

/**
 * Scripts run as root on a workspace host by either transport (SSM or SSH). Their bodies are the
 * files in `scripts/` (checked by `scripts/shellcheck.sh`); a script is its inputs, assigned as
 * quoted shell words, followed by those files. Conventions:
 *
 * - Every host path starts with `$ROOT`, taken from `MOLECULE_HOST_ROOT`: empty on a real
 *   host; the local emulator points it at the emulated instance's root directory.
 * - Every value that came from a user, a manifest or configuration is passed through `quote`.
 * - stdout carries exactly one line, printed last: `MOLECULE_RESULT {json}` (see
 *   host-command.ts). Diagnostics go to stderr. A failing script still prints its result
 *   line (with `ok: false` and the `step` it failed in) and exits non-zero.
 */

export interface InstallScriptInput {
  configDir: string;
  pluginName: string;
  tarballUrl: string;
  /** Unique per attempt; names the staging directory. */
  ts: string;
  downloadTimeoutSeconds?: number;
  /** What is installed, written next to the plugin for probe.sh; omitted: no marker. */
  installed?: InstallMarker;
}

/** The identity of an installed plugin that its directory alone does not prove (see scripts/probe.sh). */
export interface InstallMarker {
  sha256: string;
  source: string;
  version: string | null;
  skills: string[];
  runtimes: string[];
}

export interface ProbeScriptInput {
  configDir: string;
  pluginName: string;
}

export interface UninstallScriptInput {
  configDir: string;
  pluginName: string;
  /** Skills the caller knows the plugin declared, removed along with those in its installed `plugin.yaml`. */
  skills?: readonly string[];
}

export interface RestartScriptInput {
  workspaceId: string;
  /** Configuration, e.g. `docker restart ws-{workspaceId}`; the placeholder must stand outside any quotes. */
  command: string;
  /** The runtime's config dir, given to the command as `$CONFIG_DIR` (the local emulated agent loads its plugins there). */
  configDir?: string;
}

export interface HealthScriptInput {
  configDir: string;
  /**
   * The plugins the change delivered (one for an install or a rollback, those a repair reinstalled),
   * each with the skills the caller knows it declared: a first install that is removed takes them along.
   */
  plugins: readonly DeliveredPlugin[];
  workspaceId: string;
  /** Configuration, the runtime's check (exit 0 = healthy); `{workspaceId}` as in the restart command. */
  command: string;
  /** How long the check is retried, every 2 s, before the host puts back what was there. */
  timeoutSeconds: number;
  /** Run again once the host is put back; at most `restartTimeoutSeconds`. */
  restartCommand: string;
  restartTimeoutSeconds: number;
}

export interface DeliveredPlugin {
  name: string;
  skills?: readonly string[];
}

export interface InventoryScriptInput {
  configDir: string;
  /** A presigned PUT URL the inventory is uploaded to. */
  uploadUrl: string;
  uploadTimeoutSeconds: number;
  /** The largest inventory (gzipped) the host uploads. */
  maxBytes: number;
}

export interface CleanScriptInput {
  configDir: string;
  /** Debris, relative to plugins/: `.staging/<entry>`, `.previous/<entry>`, `.previous/.markers/<entry>`, `.molecule/<entry>`. */
  paths: readonly string[];
}

const DEFAULT_DOWNLOAD_TIMEOUT_SECONDS = 120;

type ScriptFile =
  | 'prelude.sh'
  | 'install.sh'
  | 'uninstall.sh'
  | 'restart.sh'
  | 'probe.sh'
  | 'health.sh'
  | 'inventory.sh'
  | 'clean.sh'
  | 'manifest-skills.awk'
  | 'strip-markers.awk';

const files = new Map<ScriptFile, string>();

/**
 * A file of `scripts/`, read on first use. Next to this module when run from source; the Lambda
 * bundle carries a copy next to itself (see infra/constructs/handler-function.ts).
 */
function scriptFile(name: ScriptFile): string {
  let text = files.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(`./scripts/${name}`, import.meta.url), 'utf8');
    files.set(name, text);
  }
  return text;
}

/** The inputs as quoted assignments (a list as a bash array of quoted words), then the files' text. */
function script(inputs: Record<string, string | readonly string[]>, ...parts: string[]): string {
  const assignments = Object.entries(inputs).map(([name, value]) =>
    typeof value === 'string' ? `${name}=${shellQuote(value)}\n` : `${name}=(${value.map(shellQuote).join(' ')})\n`,
  );
  return [...assignments, ...parts].join('');
}

function assertPluginName(name: string, what = 'plugin name'): void {
  if (!PLUGIN_NAME_RE.test(name)) throw new Error(`invalid ${what} "${name}"`);
}

/** An absolute, normalized directory, returned without its trailing slash ('' for `/`). */
function checkedConfigDir(dir: string): string {
  const trimmed = dir.replace(/\/+$/, '');
  if (!dir.startsWith('/') || (trimmed !== '' && posix.normalize(trimmed) !== trimmed)) {
    throw new Error(`invalid config dir "${dir}"`);
  }
  return trimmed;
}

/** Downloads the staged tarball and swaps it in atomically; see scripts/install.sh. */
export function installScript({ configDir, pluginName, tarballUrl, ts, downloadTimeoutSeconds, installed }: InstallScriptInput): string {
  assertPluginName(pluginName);
  if (!/^[0-9A-Za-z]{1,40}$/.test(ts)) throw new Error(`invalid staging timestamp "${ts}"`);
  if (!/^https?:\/\//i.test(tarballUrl)) throw new Error('the tarball URL must be http(s)');
  const maxTime = Math.max(1, Math.round(downloadTimeoutSeconds ?? DEFAULT_DOWNLOAD_TIMEOUT_SECONDS));
  return script(
    {
      RESULT_PREFIX,
      CONFIG_PATH: checkedConfigDir(configDir),
      NAME: pluginName,
      TARBALL_URL: tarballUrl,
      STAMP: ts,
      MAX_TIME: String(maxTime),
      MARKER: installed ? JSON.stringify(installed) : '',
    },
    scriptFile('prelude.sh'),
    scriptFile('install.sh'),
  );
}

/** Strips the plugin's markers, removes its skills and the plugin; see scripts/uninstall.sh. */
export function uninstallScript({ configDir, pluginName, skills = [] }: UninstallScriptInput): string {
  assertPluginName(pluginName);
  for (const skill of skills) assertPluginName(skill, 'skill name');
  return script(
    {
      RESULT_PREFIX,
      CONFIG_PATH: checkedConfigDir(configDir),
      NAME: pluginName,
      SKILLS: skills.join('\n'),
      MANIFEST_SKILLS_AWK: scriptFile('manifest-skills.awk'),
      STRIP_MARKERS_AWK: scriptFile('strip-markers.awk'),
    },
    scriptFile('prelude.sh'),
    scriptFile('uninstall.sh'),
  );
}

/** Reports what the host has for one plugin, changing nothing; see scripts/probe.sh. */
export function probeScript({ configDir, pluginName }: ProbeScriptInput): string {
  assertPluginName(pluginName);
  return script({ RESULT_PREFIX, CONFIG_PATH: checkedConfigDir(configDir), NAME: pluginName }, scriptFile('prelude.sh'), scriptFile('probe.sh'));
}

/**
 * Runs the configured restart command with `{workspaceId}` replaced by the quoted id. The
 * command is configuration, shell code by design, so it goes in as a function body, not quoted.
 */
export function restartScript({ workspaceId, command, configDir }: RestartScriptInput): string {
  const inputs: Record<string, string> = { RESULT_PREFIX, ...(configDir !== undefined && { CONFIG_PATH: checkedConfigDir(configDir) }) };
  return script(inputs, `restart_command() {\n${withWorkspaceId(command, workspaceId)}\n}\n`, scriptFile('restart.sh'));
}

/**
 * The health gate: runs the check until it passes or times out, and when it does not, puts back
 * what was there for each delivered plugin and restarts again; see scripts/health.sh. The check is
 * configuration too, and goes in as a quoted value run by `bash -c` under `timeout`; the
 * uninstalls and the restart go in as whole host scripts, so a first install's removal is exactly
 * an uninstall's.
 */
export function healthScript(input: HealthScriptInput): string {
  const { configDir, plugins, workspaceId, command } = input;
  if (plugins.length === 0) throw new Error('the health gate needs the plugins the change delivered');
  for (const plugin of plugins) assertPluginName(plugin.name);
  return script(
    {
      RESULT_PREFIX,
      CONFIG_PATH: checkedConfigDir(configDir),
      NAMES: plugins.map((p) => p.name),
      HEALTH_COMMAND: withWorkspaceId(command, workspaceId),
      TIMEOUT_SECONDS: String(wholeSeconds(input.timeoutSeconds)),
      UNINSTALL_SCRIPTS: plugins.map((p) => uninstallScript({ configDir, pluginName: p.name, skills: p.skills ?? [] })),
      RESTART_SCRIPT: restartScript({ workspaceId, command: input.restartCommand, configDir }),
      RESTART_SECONDS: String(wholeSeconds(input.restartTimeoutSeconds)),
    },
    scriptFile('prelude.sh'),
    scriptFile('health.sh'),
  );
}

/** A read-only inventory of plugins/, uploaded to `uploadUrl`; see scripts/inventory.sh. */
export function inventoryScript({ configDir, uploadUrl, uploadTimeoutSeconds, maxBytes }: InventoryScriptInput): string {
  if (!/^https?:\/\//i.test(uploadUrl)) throw new Error('the upload URL must be http(s)');
  return script(
    {
      RESULT_PREFIX,
      CONFIG_PATH: checkedConfigDir(configDir),
      UPLOAD_URL: uploadUrl,
      MAX_TIME: String(wholeSeconds(uploadTimeoutSeconds)),
      MAX_BYTES: String(Math.max(1, Math.floor(maxBytes))),
    },
    scriptFile('prelude.sh'),
    scriptFile('inventory.sh'),
  );
}

/** What a debris path may be: one entry of the delivery's own dirs under plugins/ (scripts/clean.sh checks it again). */
export const DEBRIS_PATH_RE = /^\.(?:staging|previous|previous\/\.markers|molecule)\/(?!\.\.?$)[^/\n\0]+$/;

/** Removes these debris paths and nothing else; see scripts/clean.sh. */
export function cleanScript({ configDir, paths }: CleanScriptInput): string {
  for (const path of paths) if (!DEBRIS_PATH_RE.test(path)) throw new Error(`not a debris path: ${JSON.stringify(path)}`);
  return script({ RESULT_PREFIX, CONFIG_PATH: checkedConfigDir(configDir), PATHS: paths.join('\n') }, scriptFile('prelude.sh'), scriptFile('clean.sh'));
}

/** Configured shell code with `{workspaceId}` replaced by the quoted id. */
function withWorkspaceId(command: string, workspaceId: string): string {
  return command.replaceAll('{workspaceId}', shellQuote(workspaceId));
}

const wholeSeconds = (seconds: number) => Math.max(1, Math.ceil(seconds));
