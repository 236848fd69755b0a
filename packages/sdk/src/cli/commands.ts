import { join } from 'node:path';
import { hashPluginDir, validatePluginDir } from '../plugin-dir.js';
import { pullPlugin } from '../pull.js';
import { workspaceStateDir } from '../token-cache.js';
import { connect, home, type NetworkFlags } from './connection.js';
import { follow } from './follow.js';
import { type Printer, printPlugins, progress, table } from './format.js';
import type { Io } from './io.js';
import { explainHeader, explainSteps, outcome } from './ops-view.js';
import { type WatchFlags, watch as watchOperations } from './watch.js';

/**
 * What each command does once its arguments are parsed; each returns its exit status (0 done, 1
 * failed, 3 still running). API errors and usage errors are thrown for the entry to report.
 */

interface WaitFlags {
  wait: boolean;
  timeout: number;
}
export type InstallFlags = NetworkFlags & WaitFlags & { sha256?: string; restart: boolean; uninstallAfter?: string };
export type UninstallFlags = NetworkFlags & WaitFlags & { at?: string };
export type RegistryFlags = NetworkFlags & { runtime?: string };
export type PullFlags = NetworkFlags & { source?: string; dir?: string };

export async function install(io: Io, workspace: string, source: string, flags: InstallFlags): Promise<number> {
  const { client, print } = await connect(flags, io, workspace);
  const accepted = await client.install(workspace, {
    source,
    ...(flags.sha256 ? { sha256: flags.sha256 } : {}),
    ...(flags.restart ? {} : { restart: false }),
    ...(flags.uninstallAfter ? { uninstallAfter: flags.uninstallAfter } : {}),
  });
  return follow(client, workspace, accepted, !flags.wait, flags.timeout, io, print);
}

export async function uninstall(io: Io, workspace: string, name: string, flags: UninstallFlags): Promise<number> {
  const { client, print } = await connect(flags, io, workspace);
  const answer = await client.uninstall(workspace, name, flags.at ? { at: flags.at } : {});
  if (answer.status !== 'scheduled') return follow(client, workspace, answer, !flags.wait, flags.timeout, io, print);
  print.result(answer, `${answer.plugin}: uninstall scheduled for ${answer.uninstallAt}`);
  return 0;
}

export async function list(io: Io, workspace: string, flags: NetworkFlags): Promise<number> {
  const { client, print } = await connect(flags, io, workspace);
  const plugins = await client.listInstalled(workspace);
  print.result(plugins, table(plugins.map((p) => [p.name, p.version ?? '-', p.source, p.sha256.slice(0, 12), p.installedAt])) || 'no plugins installed');
  return 0;
}

export async function available(io: Io, workspace: string, flags: NetworkFlags): Promise<number> {
  const { client, print } = await connect(flags, io, workspace);
  printPlugins(print, await client.available(workspace));
  return 0;
}

/** `status <operationId>` (any workspace, admin token) or `status <workspace> <operationId>`; exit 1 when it failed. */
export async function status(io: Io, first: string, second: string | undefined, flags: NetworkFlags): Promise<number> {
  const workspace = second === undefined ? undefined : first;
  const operationId = second ?? first;
  const { client, print } = await connect(flags, io, workspace);
  const op = workspace === undefined ? await client.operationById(operationId) : await client.operation(workspace, operationId);
  print.result(op, [outcome(op), ...explainHeader(op), ...(op.steps.length ? ['steps:', ...explainSteps(op)] : [])].join('\n'));
  return op.status === 'FAILED' ? 1 : 0;
}

export async function watch(io: Io, flags: NetworkFlags & WatchFlags): Promise<number> {
  const { client } = await connect(flags, io);
  await watchOperations(client, flags, io);
  return 0;
}

export async function registry(io: Io, flags: RegistryFlags): Promise<number> {
  const { client, print } = await connect(flags, io);
  printPlugins(print, await client.registry(flags.runtime));
  return 0;
}

export async function sources(io: Io, flags: NetworkFlags): Promise<number> {
  const { client, print } = await connect(flags, io);
  const schemes = await client.sources();
  print.result({ schemes }, schemes.join('\n'));
  return 0;
}

export async function pull(io: Io, workspace: string, name: string, flags: PullFlags): Promise<number> {
  const { client, print } = await connect(flags, io, workspace);
  const pluginsDir = flags.dir ?? join(workspaceStateDir(workspace, home(io)), 'plugins');
  const pulled = await pullPlugin(client, {
    workspaceId: workspace,
    name,
    pluginsDir,
    ...(flags.source ? { source: flags.source } : {}),
    onProgress: progress(io),
    onWarning: (warning) => io.stderr(`warning: ${warning}\n`),
  });
  if (io.isTTY) io.stderr('\n');
  print.result(pulled, `pulled ${name} (sha256 ${pulled.sha256}, ${pulled.files} files) into ${pulled.dir}`);
  return 0;
}

export async function hash(io: Io, dir: string, print: Printer): Promise<number> {
  const hashed = await hashPluginDir(dir);
  for (const path of hashed.skipped) io.stderr(`warning: ${path} is not a regular file; left out of the hash, as the service leaves it out\n`);
  print.result(hashed, hashed.sha256);
  return 0;
}

/** Exit 1 when the plugin.yaml has errors. */
export async function validate(_io: Io, dir: string, print: Printer): Promise<number> {
  const result = await validatePluginDir(dir);
  const lines = [
    ...result.errors.map((e) => `error: ${e}`),
    ...result.warnings.map((w) => `warning: ${w}`),
    result.errors.length
      ? `${dir}: invalid (${result.errors.length} error${result.errors.length === 1 ? '' : 's'})`
      : `${dir}: valid${result.name ? `, ${result.name}` : ''}${result.version ? ` ${result.version}` : ''} (sha256 ${result.sha256})`,
  ];
  print.result({ valid: result.errors.length === 0, ...result }, lines.join('\n'));
  return result.errors.length ? 1 : 0;
}
