/**
 * The rate control of a fleet rollout (SPEC §10), as pure decisions: what the driver may start
 * next, and when the rollout is over and how. No I/O here: the driver reads the ledger, asks
 * `nextMove`, starts what it says and writes the outcome, so every rule below is tested alone.
 *
 * As SSM Run Command defines them: at most `maxConcurrency` installs in flight; once failures
 * exceed `maxErrors` no new install starts and the ones in flight finish. `strict` also shrinks
 * concurrency as failures arrive so failures never exceed maxErrors + 1 (CloudFormation StackSets'
 * strict failure tolerance). The first `canary` targets go one at a time and must all succeed.
 */

/** `10`, or `"10%"` of the target count. */
export type RateValue = number | `${number}%`;

export type FailureMode = 'tolerant' | 'strict';

/** A target as the ledger holds it, in workspace-id order. */
export type TargetStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'rolled_back';

export interface RolloutControls {
  maxConcurrency: RateValue;
  maxErrors: RateValue;
  canary: number;
  failureMode: FailureMode;
}

export type RolloutEnd = 'SUCCEEDED' | 'STOPPED' | 'CANCELLED';

export type Move =
  /** Start these targets (indexes into the ledger) now, then look again. */
  | { kind: 'start'; targets: number[] }
  /** Nothing to start now: installs are in flight (or waiting for a slot); look again later. */
  | { kind: 'wait' }
  /** The rollout is over. */
  | { kind: 'end'; status: RolloutEnd; reason: string };

/** A percentage of `total`, rounded down (SSM's rule); a plain number as it is. */
export function resolveRate(value: RateValue, total: number): number {
  if (typeof value === 'number') return value;
  const percent = Number(value.slice(0, -1));
  return Math.floor((percent * total) / 100);
}

/** The controls as numbers for `total` targets: concurrency at least 1, errors at least 0. */
export function resolveControls(controls: RolloutControls, total: number): { maxConcurrency: number; maxErrors: number; canary: number } {
  return {
    maxConcurrency: Math.max(1, resolveRate(controls.maxConcurrency, total)),
    maxErrors: Math.max(0, resolveRate(controls.maxErrors, total)),
    canary: Math.max(0, controls.canary),
  };
}

export interface LedgerView {
  targets: readonly TargetStatus[];
  /** Cancel asked: no new start; it ends CANCELLED once nothing is in flight. */
  cancelRequested: boolean;
}

/**
 * The next move for a ledger. Canaries are the first `canary` targets that are not skipped; the
 * rest start only once every canary succeeded. `limit` caps how many one move starts (a driver's
 * batch), never the rate controls.
 */
export function nextMove(ledger: LedgerView, controls: RolloutControls, limit = Number.POSITIVE_INFINITY): Move {
  const { targets } = ledger;
  const { maxConcurrency, maxErrors, canary } = resolveControls(controls, targets.length);
  const running = targets.filter((s) => s === 'running').length;
  const failed = targets.filter((s) => s === 'failed').length;
  const pending = targets.flatMap((s, i) => (s === 'pending' ? [i] : []));
  const canaries = targets.flatMap((s, i) => (s === 'skipped' ? [] : [i])).slice(0, canary);

  const end = (status: RolloutEnd, reason: string): Move => ({ kind: 'end', status, reason });
  const settle = (status: RolloutEnd, reason: string): Move => (running > 0 ? { kind: 'wait' } : end(status, reason));

  if (canaries.some((i) => targets[i] === 'failed')) return settle('STOPPED', 'a canary failed');
  if (ledger.cancelRequested) return settle('CANCELLED', 'cancelled');
  if (failed > maxErrors) return settle('STOPPED', `${failed} failures exceed maxErrors ${maxErrors}`);
  if (pending.length === 0)
    return running > 0 ? { kind: 'wait' } : end('SUCCEEDED', failed > 0 ? `${failed} failures within maxErrors ${maxErrors}` : 'every target done');

  // Canaries one at a time, in order; nothing else until all succeeded.
  const nextCanary = canaries.find((i) => targets[i] !== 'succeeded');
  if (nextCanary !== undefined) {
    if (running > 0 || targets[nextCanary] !== 'pending') return { kind: 'wait' };
    return { kind: 'start', targets: [nextCanary] };
  }

  const starts: number[] = [];
  let inFlight = running;
  for (const i of pending) {
    if (starts.length >= limit || inFlight >= maxConcurrency) break;
    // Strict: an install starts only while failures + installs in flight stay within maxErrors,
    // or when nothing is in flight, so at most maxErrors + 1 can fail.
    if (controls.failureMode === 'strict' && inFlight > 0 && failed + inFlight > maxErrors) break;
    starts.push(i);
    inFlight += 1;
  }
  return starts.length > 0 ? { kind: 'start', targets: starts } : { kind: 'wait' };
}
