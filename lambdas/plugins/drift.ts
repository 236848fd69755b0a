import { contentHash } from '@molecule/plugins-sdk/contract/content-hash';
import { parseManifest } from '@molecule/plugins-sdk/contract/manifest';
import type { HostInventory, HostPluginDir } from '../delivery/inventory.js';
import type { InstalledPlugin, PluginRevision, RevisionFile, VerifiedPlugin, Verification } from '../shared/types.js';
import { PLUGIN_NAME_RE } from '../shared/types.js';
import { fileChanges, type FileChanges } from './file-changes.js';

/**
 * Drift (SPEC §12): what the host has, held against the records. The host is the truth; this
 * only compares. A plugin dir's content hash is computed here from the per-file sha256 the host
 * listed, by the very function Stage uses (SPEC §3), so the two can never disagree on a hash.
 */

/** What the records say a workspace has: its plugin rows, and each one's active revision. */
export interface DriftRecords {
  installed: readonly Pick<InstalledPlugin, 'name' | 'version' | 'sha256'>[];
  active: ReadonlyMap<string, Pick<PluginRevision, 'files'>>;
}

/** A plugin dir as the host has it, as far as a repair needs it (an adopted revision records this). */
export interface FoundPlugin {
  name: string;
  sha256: string;
  version: string | null;
  /** The skills and runtimes its plugin.yaml declares. */
  skills: string[];
  runtimes: string[];
  files: RevisionFile[];
}

export interface Drift {
  plugins: VerifiedPlugin[];
  debris: string[];
  /** Every plugin dir the host has, by name. */
  found: Map<string, FoundPlugin>;
  /** What the comparison could not do in full (`manifest_invalid: <plugin>: …`, `files_truncated: <plugin>`). */
  warnings: string[];
}

/** A modified plugin lists at most this many paths per kind of change: the result stays a readable size. */
export const MAX_LISTED_PATHS = 1000;

/** The delivery's own dirs under plugins/ (install.sh, health.sh); plugin names never start with a dot. */
const STAGING = '.staging/';
const PREVIOUS = '.previous/';
const SAVED_MARKERS = '.previous/.markers/';
const MARKERS = '.molecule/';

export function compareWithRecords(inventory: HostInventory, records: DriftRecords): Drift {
  const warnings: string[] = [];
  const recorded = new Map(records.installed.map((p) => [p.name, p]));
  const onHost = new Map(inventory.plugins.map((dir) => [dir.name, dir]));
  const found = new Map<string, FoundPlugin>();
  const plugins: VerifiedPlugin[] = [];

  for (const name of [...new Set([...onHost.keys(), ...recorded.keys()])].sort()) {
    const dir = onHost.get(name);
    const row = recorded.get(name);
    const recordedAs = row ? { version: row.version, sha256: row.sha256 } : undefined;
    if (!dir) {
      plugins.push({ name, state: 'missing', ...(recordedAs ? { recorded: recordedAs } : {}) });
      continue;
    }
    const plugin = foundPlugin(dir, warnings);
    found.set(name, plugin);
    const foundAs = {
      sha256: plugin.sha256,
      version: plugin.version,
      ...markerSource(inventory, dir),
      skills: ownedSkills(inventory, plugin),
    };
    if (!recordedAs) {
      plugins.push({ name, state: 'unknown', found: foundAs });
      continue;
    }
    const active = records.active.get(name);
    const changes = active ? fileChanges(plugin.files, active.files) : null;
    const filesDiffer = changes !== null && changes.added.length + changes.removed.length + changes.changed.length > 0;
    const modified = plugin.sha256 !== recordedAs.sha256 || filesDiffer;
    plugins.push({
      name,
      state: modified ? 'modified' : 'ok',
      recorded: recordedAs,
      found: foundAs,
      ...(modified && changes ? { files: bounded(name, changes, warnings) } : {}),
    });
  }

  const installed = new Set([...onHost.keys(), ...recorded.keys()]);
  return { plugins, debris: debrisOf(inventory, installed), found, warnings };
}

/** Whether a verify's result shows drift: a plugin that is not as recorded, or debris. */
export function drifted(result: Pick<Verification, 'plugins' | 'debris'>): boolean {
  return result.debris.length > 0 || result.plugins.some((p) => p.state !== 'ok');
}

function foundPlugin(dir: HostPluginDir, warnings: string[]): FoundPlugin {
  const sha256 = contentHash(dir.files.map((file) => [file.path, file.sha256] as const));
  let declared = { version: null as string | null, skills: [] as string[], runtimes: [] as string[] };
  if (dir.manifest) {
    try {
      const manifest = parseManifest(dir.manifest);
      declared = { version: manifest.version ?? null, skills: [...manifest.skills], runtimes: [...manifest.runtimes] };
    } catch (err) {
      warnings.push(`manifest_invalid: ${dir.name}: ${(err as Error).message}`);
    }
  }
  return { name: dir.name, sha256, ...declared, files: dir.files };
}

/** The source the install marker names, when it was written for this very directory (scripts/probe.sh's rule). */
function markerSource(inventory: HostInventory, dir: HostPluginDir): { source?: string } {
  const text = inventory.markers.get(`${dir.name}.json`);
  if (!text) return {};
  try {
    const marker = JSON.parse(text) as { dir?: unknown; install?: { source?: unknown } };
    return marker.dir === dir.inode && typeof marker.install?.source === 'string' ? { source: marker.install.source } : {};
  } catch {
    return {};
  }
}

/** The declared skills whose `skills/<name>` dir in the config dir is this plugin's copy, file for file (as uninstall judges it). */
function ownedSkills(inventory: HostInventory, plugin: FoundPlugin): string[] {
  return plugin.skills.filter((skill) => {
    const installed = inventory.skills.get(skill);
    if (!installed || installed.size === 0) return false;
    const prefix = `skills/${skill}/`;
    const own = plugin.files.filter((file) => file.path.startsWith(prefix));
    return own.length === installed.size && own.every((file) => installed.get(file.path.slice(prefix.length)) === file.sha256);
  });
}

function bounded(name: string, changes: FileChanges, warnings: string[]): FileChanges {
  const cut = (paths: string[]) => paths.slice(0, MAX_LISTED_PATHS);
  if (changes.added.length > MAX_LISTED_PATHS || changes.removed.length > MAX_LISTED_PATHS || changes.changed.length > MAX_LISTED_PATHS) {
    warnings.push(`files_truncated: ${name}: at most ${MAX_LISTED_PATHS} paths are listed per kind of change`);
  }
  return { added: cut(changes.added), removed: cut(changes.removed), changed: cut(changes.changed) };
}

/**
 * Leftovers, relative to plugins/ (SPEC §12): everything under `.staging/` (no operation runs while
 * the verify holds the workspace); `.previous/<name>` of a plugin neither on the host nor recorded
 * (the previous copy of an installed plugin is what the health gate puts back, and of a missing
 * one what a person may want); a saved marker in `.previous/.markers/` without its previous copy;
 * an install marker in `.molecule/` of a plugin neither on the host nor recorded, and a marker
 * install.sh left half-written.
 */
function debrisOf(inventory: HostInventory, installed: ReadonlySet<string>): string[] {
  const previousKept = new Set<string>();
  for (const { path } of inventory.own) {
    if (path.startsWith(PREVIOUS) && !path.startsWith(SAVED_MARKERS) && installed.has(path.slice(PREVIOUS.length))) {
      previousKept.add(path.slice(PREVIOUS.length));
    }
  }
  const debris: string[] = [];
  for (const { path } of inventory.own) {
    if (path.startsWith(STAGING)) debris.push(path);
    else if (path.startsWith(SAVED_MARKERS)) {
      if (!previousKept.has(jsonName(path.slice(SAVED_MARKERS.length)) ?? '')) debris.push(path);
    } else if (path.startsWith(PREVIOUS)) {
      const entry = path.slice(PREVIOUS.length);
      if (entry !== '.markers' && !previousKept.has(entry)) debris.push(path);
    } else if (path.startsWith(MARKERS)) {
      if (!installed.has(jsonName(path.slice(MARKERS.length)) ?? '')) debris.push(path);
    }
  }
  return debris.sort();
}

/** `<name>.json` → name, for a plugin name only (install.sh's temporary `.name.stamp` is not one). */
function jsonName(file: string): string | null {
  if (!file.endsWith('.json')) return null;
  const name = file.slice(0, -'.json'.length);
  return PLUGIN_NAME_RE.test(name) ? name : null;
}
