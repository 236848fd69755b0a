import { setTimeout as sleep } from 'node:timers/promises';
import type { Rollout, RolloutCreate, RolloutSummary } from '../client.js';
import { connect, type NetworkFlags } from './connection.js';
import { table } from './format.js';
import { type Io, UsageError } from './io.js';

/**
 * `molecule-plugins rollout <action> <org> [source | rollout id]` (SPEC §10): create, list, status,
 * watch, cancel, resume and rollback. Exit 0 when the rollout SUCCEEDED (or was accepted), 1 when
 * it ended otherwise, 3 when `watch --timeout` passed with it still running.
 */

export type RolloutFlags = NetworkFlags & {
  targets?: string;
  sha256?: string;
  maxConcurrency?: string;
  maxErrors?: string;
  canary?: string;
  strict?: boolean;
  dryRun?: boolean;
  signature?: string;
  interval?: number;
  timeout?: number;
};

const ACTIONS = ['create', 'list', 'status', 'watch', 'cancel', 'resume', 'rollback'] as const;

export async function rollout(io: Io, action: string, org: string, arg: string | undefined, flags: RolloutFlags): Promise<number> {
  if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`rollout takes one of ${ACTIONS.join(', ')} (not "${action}")`);
  const { client, print } = await connect(flags, io);
  if (action === 'list') {
    const list = await client.rollouts(org);
    print.result(list, table(list.map((r) => [r.rolloutId, r.status, r.kind, r.plugin ?? r.source ?? '-', progressText(r), r.createdAt])) || 'no rollouts');
    return 0;
  }
  if (!arg) throw new UsageError(action === 'create' ? 'rollout create takes <org> <source>' : `rollout ${action} takes <org> <rollout id>`);
  if (action === 'create') {
    const accepted = await client.createRollout(org, createBody(arg, flags));
    print.result(accepted, `accepted: rollout ${accepted.rolloutId} (follow it with: molecule-plugins rollout watch ${org} ${accepted.rolloutId})`);
    return 0;
  }
  if (action === 'status') {
    const r = await client.rollout(org, arg);
    print.result(r, statusText(r));
    return exitFor(r);
  }
  if (action === 'watch') return watch(io, client, org, arg, flags, print);
  const body = action === 'resume' && flags.maxErrors !== undefined ? { maxErrors: rate(flags.maxErrors, '--max-errors') } : undefined;
  const accepted = await client.rolloutAction(org, arg, action as 'cancel' | 'resume' | 'rollback', body);
  const what = action === 'rollback' ? `rollback rollout ${accepted.rolloutId} started` : `${action} accepted for rollout ${accepted.rolloutId}`;
  print.result(accepted, what);
  return 0;
}

/** `--targets ws-1,ws-2`, `--targets runtime:claude-code` or `--targets all`. */
function createBody(source: string, flags: RolloutFlags): RolloutCreate {
  const spec = flags.targets ?? 'all';
  const targets: RolloutCreate['targets'] =
    spec === 'all'
      ? { all: true }
      : spec.startsWith('runtime:')
        ? { runtime: spec.slice('runtime:'.length) }
        : {
            workspaceIds: spec
              .split(',')
              .map((id) => id.trim())
              .filter(Boolean),
          };
  return {
    source,
    targets,
    ...(flags.sha256 ? { sha256: flags.sha256 } : {}),
    ...(flags.maxConcurrency !== undefined ? { maxConcurrency: rate(flags.maxConcurrency, '--max-concurrency') } : {}),
    ...(flags.maxErrors !== undefined ? { maxErrors: rate(flags.maxErrors, '--max-errors') } : {}),
    ...(flags.canary !== undefined ? { canary: wholeNumber(flags.canary, '--canary') } : {}),
    ...(flags.strict ? { failureMode: 'strict' as const } : {}),
    ...(flags.dryRun ? { dryRun: true } : {}),
    ...(flags.signature ? { signature: flags.signature } : {}),
  };
}

function rate(text: string, option: string): number | string {
  if (/^\d+(\.\d+)?%$/.test(text)) return text;
  return wholeNumber(text, option);
}

function wholeNumber(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${option} takes a whole number or a percentage such as 10%`);
  return n;
}

const done = (r: RolloutSummary) => r.counts.succeeded + r.counts.failed + r.counts.skipped;

/** `12/100 done: 10 succeeded, 2 failed (1 unreachable), 3 running, 85 pending` */
export function progressText(r: RolloutSummary): string {
  const c = r.counts;
  const unreachable = c.unreachable > 0 ? ` (${c.unreachable} unreachable)` : '';
  return `${done(r)}/${c.total} done: ${c.succeeded} succeeded, ${c.failed} failed${unreachable}, ${c.skipped} skipped, ${c.running} running, ${c.pending} pending`;
}

/** A bar of `width` cells: succeeded `#`, failed `x`, skipped `-`, running `>`, pending `.`. */
export function progressBar(r: RolloutSummary, width = 30): string {
  const c = r.counts;
  if (c.total === 0) return `[${' '.repeat(width)}]`;
  const cells = (n: number) => Math.round((n / c.total) * width);
  const parts = ['#'.repeat(cells(c.succeeded)), 'x'.repeat(cells(c.failed)), '-'.repeat(cells(c.skipped)), '>'.repeat(cells(c.running))].join('');
  return `[${parts.slice(0, width).padEnd(width, '.')}]`;
}

function statusText(r: Rollout): string {
  const lines = [
    `rollout ${r.rolloutId} (${r.kind} of ${r.plugin ?? r.source}): ${r.status}`,
    `  ${progressText(r)}; maxConcurrency ${r.maxConcurrency}, maxErrors ${r.maxErrors}, canary ${r.canary}, ${r.failureMode}`,
    ...(r.error ? [`  error: ${r.error.message} (${r.error.code})`] : []),
    table(r.workspaces.map((w) => [w.workspaceId, w.status, w.reason ?? (w.error ? `${w.error.code}: ${w.error.message}` : ''), w.operationId ?? ''])),
  ];
  return lines.join('\n');
}

function exitFor(r: RolloutSummary): number {
  if (r.status === 'RUNNING') return 3;
  return r.status === 'SUCCEEDED' ? 0 : 1;
}

/**
 * Follows a rollout until it ends: in a terminal one progress bar redrawn in place on stderr; else a
 * line each time the counts change. Then the status, as `status` prints it.
 */
async function watch(
  io: Io,
  client: Awaited<ReturnType<typeof connect>>['client'],
  org: string,
  id: string,
  flags: RolloutFlags,
  print: Awaited<ReturnType<typeof connect>>['print'],
): Promise<number> {
  const deadline = Date.now() + (flags.timeout ?? 3600) * 1000;
  let last = '';
  for (;;) {
    const r = await client.rollout(org, id);
    const line = `${progressBar(r)} ${progressText(r)}`;
    if (line !== last) {
      io.stderr(io.isTTY ? `\r\u001b[2K${line}` : `${line}\n`);
      last = line;
    }
    if (r.status !== 'RUNNING' || Date.now() >= deadline || io.interrupted?.aborted) {
      if (io.isTTY) io.stderr('\n');
      print.result(r, statusText(r));
      return exitFor(r);
    }
    await sleep((flags.interval ?? 1) * 1000, undefined, { signal: io.interrupted }).catch(() => undefined);
  }
}
