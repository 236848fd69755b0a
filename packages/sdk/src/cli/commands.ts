import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashPluginDir, validatePluginDir } from '../plugin-dir.js';
import { trustFromAllowedSigners } from '../signatures.js';
import { pullPlugin } from '../pull.js';
import { workspaceStateDir } from '../token-cache.js';
import { connect, home, type NetworkFlags } from './connection.js';
import { follow } from './follow.js';
import type { InstallRequest, Operation, Plan, PluginDeliveryClient, RepairMode, Verification } from '../client.js';
import { type Printer, printPlugins, progress, table } from './format.js';
import { type Io, UsageError } from './io.js';
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
export type InstallFlags = NetworkFlags &
  WaitFlags & {
    sha256?: string;
    restart: boolean;
    uninstallAfter?: string;
    healthCheck: boolean;
    dryRun?: boolean;
    detailedExitcode?: boolean;
    signature?: string;
  };
export type RollbackFlags = NetworkFlags & WaitFlags & { revision?: number };
export type UninstallFlags = NetworkFlags & WaitFlags & { at?: string };
export type RegistryFlags = NetworkFlags & { runtime?: string };
export type PullFlags = NetworkFlags & { source?: string; dir?: string; signers?: string };
export type VerifyFlags = NetworkFlags & { timeout: number };
export type RepairFlags = NetworkFlags & WaitFlags & { mode: RepairMode; plugin?: string[] };

export async function install(io: Io, workspace: string, source: string, flags: InstallFlags): Promise<number> {
  const { client, print } = await connect(flags, io, workspace);
  const request = {
    source,
    ...(flags.sha256 ? { sha256: flags.sha256 } : {}),
    ...(flags.restart ? {} : { restart: false }),
    ...(flags.uninstallAfter ? { uninstallAfter: flags.uninstallAfter } : {}),
    ...(flags.healthCheck ? {} : { healthCheck: false }),
    ...(flags.signature ? { signature: await readFile(flags.signature, 'utf8') } : {}),
  };
  if (flags.dryRun) return plan(client, workspace, request, flags, io, print);
  if (flags.detailedExitcode) throw new UsageError('--detailed-exitcode goes with --dry-run');
  const accepted = await client.install(workspace, request);
  return follow(client, workspace, accepted, !flags.wait, flags.timeout, io, print);
}

/**
 * `install --dry-run`: the plan as a file diff (`+ added`, `- removed`, `~ changed`) and whether
 * the install would restart. Exit 0 (with `--detailed-exitcode`: 0 no changes, 2 changes, as
 * helm-diff does), 1 when it cannot be planned or would be refused.
 */
async function plan(client: PluginDeliveryClient, workspace: string, request: InstallRequest, flags: InstallFlags, io: Io, print: Printer): Promise<number> {
  const accepted = await client.plan(workspace, request);
  const op = await finished(client, workspace, accepted.operationId, 'plan', flags.timeout, io, print);
  if (typeof op === 'number') return op;
  if (!op.plan) return failed(op, print);
  const planned = op.plan;
  print.result(planned, planText(planned));
  if (!planned.allowed) return 1;
  const changes = planned.files.added.length + planned.files.removed.length + planned.files.changed.length;
  return flags.detailedExitcode && changes > 0 ? 2 : 0;
}

/**
 * Waits for an operation whose result is the answer (a plan, a verify): the operation once it
 * succeeded, or the exit status when it is still running at the timeout (3) or failed (1).
 */
async function finished(
  client: PluginDeliveryClient,
  workspace: string,
  operationId: string,
  what: string,
  timeoutSeconds: number,
  io: Io,
  print: Printer,
): Promise<Operation | number> {
  const op = await client.waitForOperation(workspace, operationId, { timeoutMs: timeoutSeconds * 1000 });
  if (op.status === 'RUNNING') {
    io.stderr(`the ${what} is still running after ${timeoutSeconds} s; follow it with: molecule-plugins status ${workspace} ${op.operationId}\n`);
    return 3;
  }
  return op.status === 'FAILED' ? failed(op, print) : op;
}

function failed(op: Operation, print: Printer): number {
  print.failure(op, outcome(op));
  return 1;
}

export function planText(p: Plan): string {
  const from = p.from ? `${p.from.version ?? '-'} (revision ${p.from.revision ?? '?'}, ${p.from.sha256.slice(0, 12)})` : 'not installed';
  const lines = [`${p.plugin}: ${from} -> ${p.to.version ?? '-'} (${p.to.sha256.slice(0, 12)})`];
  for (const path of p.files.added) lines.push(`+ ${path}`);
  for (const path of p.files.removed) lines.push(`- ${path}`);
  for (const path of p.files.changed) lines.push(`~ ${path}`);
  const changes = p.files.added.length + p.files.removed.length + p.files.changed.length;
  if (changes === 0) lines.push('no changes');
  lines.push(p.restart ? 'the workspace would restart' : 'the workspace would not restart');
  if (!p.allowed) lines.push(`refused: ${p.blockedBy ?? 'not allowed'}`);
  for (const warning of p.warnings) lines.push(`warning: ${warning}`);
  return lines.join('\n');
}

/** `revisions <workspace> <plugin>`: newest first, the active one marked. */
export async function revisions(io: Io, workspace: string, name: string, flags: NetworkFlags): Promise<number> {
  const { client, print } = await connect(flags, io, workspace);
  const list = await client.revisions(workspace, name);
  print.result(
    list,
    table(
      list.map((r) => [
        String(r.revision),
        r.status,
        r.version ?? '-',
        r.sha256.slice(0, 12),
        `${r.files.length} files`,
        r.kept ? 'kept' : 'not kept',
        r.installedAt,
      ]),
    ),
  );
  return 0;
}

/** `rollback <workspace> <plugin> [--revision N]`: follows the operation like an install. */
export async function rollback(io: Io, workspace: string, name: string, flags: RollbackFlags): Promise<number> {
  const { client, print } = await connect(flags, io, workspace);
  const accepted = await client.rollback(workspace, name, flags.revision === undefined ? {} : { revision: flags.revision });
  return follow(client, workspace, accepted, !flags.wait, flags.timeout, io, print);
}

/**
 * `verify <workspace>`: what the host really has against the records (SPEC §12), differences only.
 * Exit 0 in sync, 2 drifted (as `install --dry-run --detailed-exitcode` says there are changes), 1
 * when the verify failed or was refused, 3 still running at --timeout.
 */
export async function verify(io: Io, workspace: string, flags: VerifyFlags): Promise<number> {
  const { client, print } = await connect(flags, io, workspace);
  const accepted = await client.verify(workspace);
  const op = await finished(client, workspace, accepted.operationId, 'verify', flags.timeout, io, print);
  if (typeof op === 'number') return op;
  if (!op.verify) return failed(op, print);
  print.result(op.verify, verificationText(workspace, op.verify));
  return op.verify.drift ? 2 : 0;
}

/** A verify for people: a line per plugin that differs (`~` modified with its files, `-` missing, `+` unknown), then the debris. */
export function verificationText(workspace: string, v: Verification): string {
  const short = (sha: string | undefined) => (sha ? sha.slice(0, 12) : '-');
  const differing = v.plugins.filter((p) => p.state !== 'ok');
  const lines = [
    v.drift
      ? `${workspace}: drifted (${differing.length} of ${v.plugins.length} plugins differ from the records, ${v.debris.length} debris)`
      : `${workspace}: in sync (${v.plugins.length} plugins as recorded, no debris)`,
  ];
  const mark = { modified: '~', missing: '-', unknown: '+', ok: ' ' } as const;
  const width = Math.max(0, ...differing.map((p) => p.name.length));
  for (const p of differing) {
    const recorded = p.recorded ? `recorded ${p.recorded.version ?? '-'} ${short(p.recorded.sha256)}` : '';
    const found = p.found ? `found ${p.found.version ?? '-'} ${short(p.found.sha256)}` : '';
    lines.push(`${mark[p.state]} ${p.name.padEnd(width)}  ${p.state.padEnd(8)}  ${[recorded, found].filter(Boolean).join(', ')}`);
    for (const path of p.files?.added ?? []) lines.push(`    + ${path}`);
    for (const path of p.files?.removed ?? []) lines.push(`    - ${path}`);
    for (const path of p.files?.changed ?? []) lines.push(`    ~ ${path}`);
  }
  for (const path of v.debris) lines.push(`debris: plugins/${path}`);
  if (v.drift) lines.push(`mend it with: molecule-plugins repair ${workspace} --mode reinstall|adopt|clean`);
  return lines.join('\n');
}

/** `repair <workspace> --mode reinstall|adopt|clean [--plugin name]…`: follows the operation like an install. */
export async function repair(io: Io, workspace: string, flags: RepairFlags): Promise<number> {
  const { client, print } = await connect(flags, io, workspace);
  const accepted = await client.repair(workspace, { mode: flags.mode, ...(flags.plugin?.length ? { plugins: flags.plugin } : {}) });
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
    ...(flags.signers ? { trust: trustFromAllowedSigners(await readFile(flags.signers, 'utf8')) } : {}),
    onProgress: progress(io),
    onWarning: (warning) => io.stderr(`warning: ${warning}\n`),
  });
  if (io.isTTY) io.stderr('\n');
  const signed = pulled.signer ? `, signed by ${pulled.signer.principal} ${pulled.signer.fingerprint}` : '';
  print.result(pulled, `pulled ${name} (sha256 ${pulled.sha256}, ${pulled.files} files${signed}) into ${pulled.dir}`);
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
