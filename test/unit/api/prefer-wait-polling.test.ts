import { describe, expect, it } from 'vitest';
import { pollDelay, waitForOperation } from '../../../lambdas/use-cases/start.js';
import type { OperationStore } from '../../../lambdas/use-cases/ports.js';
import type { Operation } from '../../../lambdas/shared/types.js';

/** `Prefer: wait=N` polling, on a clock whose sleeps only move its time (no real waiting). */
function scenario(finishesAfterMs: number, random: () => number) {
  let now = 0;
  const sleeps: number[] = [];
  const reads: number[] = [];
  const operation = (status: Operation['status']) => ({ operationId: 'op-1', status }) as Operation;
  const operations = {
    get: async () => {
      reads.push(now);
      return operation(now >= finishesAfterMs ? 'SUCCEEDED' : 'RUNNING');
    },
  } as unknown as OperationStore;
  const clock = {
    now: () => new Date(now),
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
  };
  return { deps: { operations, clock, random }, sleeps, reads, now: () => now };
}

describe('Prefer: wait polling', () => {
  it('backs off: every sleep is longer than the one before (same jitter), from tens of ms to a 2 s ceiling', () => {
    for (const r of [0, 0.5, 0.999999]) {
      const sleeps = Array.from({ length: 40 }, (_, attempt) => pollDelay(attempt, () => r));
      expect(sleeps[0]).toBeGreaterThanOrEqual(10);
      expect(sleeps[0]).toBeLessThanOrEqual(25);
      for (let i = 1; i < sleeps.length; i++) expect(sleeps[i]).toBeGreaterThanOrEqual(sleeps[i - 1]!);
      expect(Math.max(...sleeps)).toBeLessThanOrEqual(2_000);
      expect(sleeps.at(-1)).toBeGreaterThanOrEqual(1_000);
    }
  });

  it('spreads clients that started together: two random sources give different schedules', async () => {
    const a = scenario(Number.POSITIVE_INFINITY, () => 0.1);
    const b = scenario(Number.POSITIVE_INFINITY, () => 0.9);
    await waitForOperation(a.deps, 'op-1', 10_000);
    await waitForOperation(b.deps, 'op-1', 10_000);
    expect(a.sleeps.slice(0, 5)).not.toEqual(b.sleeps.slice(0, 5));
  });

  it('reads the database at most 15 times in the first 2 s, 40 times in a 25 s wait, and at most once a second from the fourth second, even with the shortest jitter', async () => {
    const s = scenario(Number.POSITIVE_INFINITY, () => 0);
    const result = await waitForOperation(s.deps, 'op-1', 25_000);
    expect(result?.status).toBe('RUNNING');
    expect(s.now()).toBe(25_000);
    expect(s.reads.length).toBeLessThanOrEqual(40);
    expect(s.reads.filter((t) => t < 2_000).length).toBeLessThanOrEqual(15);
    const late = s.reads.filter((t) => t >= 4_000);
    for (let i = 1; i < late.length - 1; i++) expect(late[i]! - late[i - 1]!).toBeGreaterThanOrEqual(1_000);
  });

  it('answers soon after the operation finishes: at most 40 % of its run time later (2 s at most), and never sleeps past the deadline', async () => {
    for (const finishesAfter of [150, 300, 450, 800, 3_000, 20_000]) {
      for (const r of [0, 0.5, 0.999999]) {
        const s = scenario(finishesAfter, () => r);
        const result = await waitForOperation(s.deps, 'op-1', 25_000);
        expect(result?.status).toBe('SUCCEEDED');
        expect(s.now() - finishesAfter).toBeLessThanOrEqual(Math.min(0.4 * finishesAfter, 2_000));
      }
    }
    const short = scenario(Number.POSITIVE_INFINITY, () => 1);
    await waitForOperation(short.deps, 'op-1', 250);
    expect(short.now()).toBe(250);
  });
});
