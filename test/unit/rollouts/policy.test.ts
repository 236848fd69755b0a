import { describe, expect, it } from 'vitest';
import { nextMove, resolveControls, resolveRate, type RolloutControls, type TargetStatus } from '../../../lambdas/rollouts/policy.js';

const controls = (over: Partial<RolloutControls> = {}): RolloutControls => ({ maxConcurrency: 2, maxErrors: 0, canary: 1, failureMode: 'tolerant', ...over });
const ledger = (targets: TargetStatus[], cancelRequested = false) => ({ targets, cancelRequested });

describe('rate values', () => {
  it('takes a percentage of the target count, rounded down, and a number as it is', () => {
    expect(resolveRate('10%', 1000)).toBe(100);
    expect(resolveRate('10%', 19)).toBe(1);
    expect(resolveRate('10%', 9)).toBe(0);
    expect(resolveRate(3, 9)).toBe(3);
    expect(resolveRate('2.5%', 1000)).toBe(25);
  });

  it('keeps concurrency at least 1 and errors at least 0', () => {
    expect(resolveControls(controls({ maxConcurrency: '10%', maxErrors: '10%' }), 5)).toEqual({ maxConcurrency: 1, maxErrors: 0, canary: 1 });
  });
});

describe('the next move', () => {
  it('starts the first canary alone, and nothing else until it succeeded', () => {
    expect(nextMove(ledger(['pending', 'pending', 'pending']), controls({ canary: 2 }))).toEqual({ kind: 'start', targets: [0] });
    expect(nextMove(ledger(['running', 'pending', 'pending']), controls({ canary: 2 }))).toEqual({ kind: 'wait' });
    expect(nextMove(ledger(['succeeded', 'pending', 'pending']), controls({ canary: 2 }))).toEqual({ kind: 'start', targets: [1] });
    expect(nextMove(ledger(['succeeded', 'succeeded', 'pending', 'pending', 'pending']), controls({ canary: 2 }))).toEqual({
      kind: 'start',
      targets: [2, 3],
    });
  });

  it('counts canaries among the targets that are not skipped', () => {
    expect(nextMove(ledger(['skipped', 'pending', 'pending']), controls())).toEqual({ kind: 'start', targets: [1] });
  });

  it('stops at once when a canary fails, whatever maxErrors allows, touching nothing else', () => {
    expect(nextMove(ledger(['failed', 'pending', 'pending']), controls({ maxErrors: 5 }))).toMatchObject({ kind: 'end', status: 'STOPPED' });
  });

  it('keeps at most maxConcurrency in flight', () => {
    const targets: TargetStatus[] = ['succeeded', 'running', 'pending', 'pending', 'pending'];
    expect(nextMove(ledger(targets), controls({ maxConcurrency: 3 }))).toEqual({ kind: 'start', targets: [2, 3] });
    expect(nextMove(ledger(['succeeded', 'running', 'running', 'pending']), controls({ maxConcurrency: 2 }))).toEqual({ kind: 'wait' });
  });

  it('starts no more once failures exceed maxErrors, lets those in flight finish, then stops with the rest pending', () => {
    const over: TargetStatus[] = ['succeeded', 'failed', 'failed', 'running', 'pending'];
    expect(nextMove(ledger(over), controls({ maxErrors: 1 }))).toEqual({ kind: 'wait' });
    expect(nextMove(ledger(['succeeded', 'failed', 'failed', 'succeeded', 'pending']), controls({ maxErrors: 1 }))).toMatchObject({
      kind: 'end',
      status: 'STOPPED',
    });
  });

  it('in strict mode starts only while failures and installs in flight stay within maxErrors, or nothing is in flight', () => {
    const strict = controls({ maxConcurrency: 5, maxErrors: 1, failureMode: 'strict' });
    // One failure: one more may fail at most, so one at a time.
    expect(nextMove(ledger(['succeeded', 'failed', 'pending', 'pending', 'pending']), strict)).toEqual({ kind: 'start', targets: [2] });
    expect(nextMove(ledger(['succeeded', 'failed', 'running', 'pending', 'pending']), strict)).toEqual({ kind: 'wait' });
    // No failure yet: two in flight at most.
    expect(nextMove(ledger(['succeeded', 'pending', 'pending', 'pending', 'pending']), strict)).toEqual({ kind: 'start', targets: [1, 2] });
  });

  it('ends CANCELLED once nothing is in flight after a cancel, and starts nothing meanwhile', () => {
    expect(nextMove(ledger(['succeeded', 'running', 'pending'], true), controls())).toEqual({ kind: 'wait' });
    expect(nextMove(ledger(['succeeded', 'succeeded', 'pending'], true), controls())).toMatchObject({ kind: 'end', status: 'CANCELLED' });
  });

  it('succeeds when nothing is left, failures within maxErrors included, and when every target is skipped', () => {
    expect(nextMove(ledger(['succeeded', 'failed', 'succeeded']), controls({ maxErrors: 1 }))).toMatchObject({ kind: 'end', status: 'SUCCEEDED' });
    expect(nextMove(ledger(['skipped', 'skipped']), controls())).toMatchObject({ kind: 'end', status: 'SUCCEEDED' });
  });

  it('starts no more per move than the driver asks', () => {
    expect(nextMove(ledger(['succeeded', 'pending', 'pending', 'pending']), controls({ maxConcurrency: 10 }), 2)).toEqual({
      kind: 'start',
      targets: [1, 2],
    });
  });
});

/** A deterministic generator, so a failing case repeats. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('whole rollouts, simulated with random outcomes', () => {
  it('never exceeds maxConcurrency, keeps each mode’s failure bound, and never starts past a failed canary', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = prng(seed);
      const total = 1 + Math.floor(random() * 40);
      const c: RolloutControls = {
        maxConcurrency: 1 + Math.floor(random() * 6),
        maxErrors: Math.floor(random() * 4),
        canary: Math.floor(random() * 3),
        failureMode: random() < 0.5 ? 'strict' : 'tolerant',
      };
      const failureRate = random();
      const targets: TargetStatus[] = Array.from({ length: total }, () => (random() < 0.1 ? 'skipped' : 'pending'));
      const { maxConcurrency, maxErrors } = resolveControls(c, total);
      let peak = 0;
      let moves = 0;
      let ended: string | undefined;
      while (!ended && moves++ < 10_000) {
        const move = nextMove({ targets, cancelRequested: false }, c);
        if (move.kind === 'end') ended = move.status;
        else if (move.kind === 'start') for (const i of move.targets) targets[i] = 'running';
        else {
          // Something in flight finishes.
          const running = targets.flatMap((s, i) => (s === 'running' ? [i] : []));
          expect(running.length, `seed ${seed}: waiting with nothing in flight`).toBeGreaterThan(0);
          const done = running[Math.floor(random() * running.length)]!;
          targets[done] = random() < failureRate ? 'failed' : 'succeeded';
        }
        peak = Math.max(peak, targets.filter((s) => s === 'running').length);
      }
      const failed = targets.filter((s) => s === 'failed').length;
      const context = `seed ${seed}: ${JSON.stringify({ total, ...c, failed, peak, ended })}`;
      expect(ended, context).toBeDefined();
      expect(peak, context).toBeLessThanOrEqual(maxConcurrency);
      expect(targets.includes('running'), context).toBe(false);
      if (c.failureMode === 'strict') expect(failed, context).toBeLessThanOrEqual(maxErrors + 1);
      else expect(failed, context).toBeLessThanOrEqual(maxErrors + maxConcurrency);
      if (ended === 'SUCCEEDED') expect(targets.includes('pending'), context).toBe(false);
      const canaries = targets.flatMap((s, i) => (s === 'skipped' ? [] : [i])).slice(0, c.canary);
      const firstFailedCanary = canaries.find((i) => targets[i] === 'failed');
      if (firstFailedCanary !== undefined) {
        expect(ended, context).toBe('STOPPED');
        expect(
          targets.slice(firstFailedCanary + 1).every((s) => s === 'pending' || s === 'skipped'),
          context,
        ).toBe(true);
      }
    }
  });
});

describe('a rollout overdue', () => {
  it('is one running past twice its waves of installs at an install’s bound', async () => {
    const { overdue } = await import('../../../lambdas/rollouts/driver.js');
    const createdAt = '2026-06-01T00:00:00.000Z';
    const rollout = { createdAt, maxConcurrency: 10, maxErrors: 0, canary: 1, failureMode: 'tolerant' } as Parameters<typeof overdue>[0];
    const targets = Array.from({ length: 20 }, (_, i) => ({ status: i < 2 ? 'skipped' : 'pending' })) as unknown as Parameters<typeof overdue>[1];
    // 18 installs: 1 canary wave + 2 waves of 10 = 3 waves of 15 min, twice over = 90 min.
    expect(overdue(rollout, targets, new Date(Date.parse(createdAt) + 89 * 60_000))).toBe(false);
    expect(overdue(rollout, targets, new Date(Date.parse(createdAt) + 91 * 60_000))).toBe(true);
  });
});
