import { describe, expect, it } from 'vitest';
import { pollDelay, waitForOperation } from '../../../lambdas/operations/start.js';
import type { OperationStore } from '../../../lambdas/operations/ports.js';
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
  it('backs off from 100 ms, doubling to 2 s, each sleep jittered within the upper half of its step', () => {
    const steps = [100, 200, 400, 800, 1600, 2000, 2000, 2000];
    steps.forEach((step, attempt) => {
      expect(pollDelay(attempt, () => 0)).toBe(step / 2);
      expect(pollDelay(attempt, () => 0.999999)).toBeCloseTo(step, 2);
    });
  });

  it('spreads clients that started together: two random sources give different schedules', async () => {
    const a = scenario(Number.POSITIVE_INFINITY, () => 0.1);
    const b = scenario(Number.POSITIVE_INFINITY, () => 0.9);
    await waitForOperation(a.deps, 'op-1', 10_000);
    await waitForOperation(b.deps, 'op-1', 10_000);
    expect(a.sleeps.slice(0, 5)).not.toEqual(b.sleeps.slice(0, 5));
  });

  it('reads the database at most 30 times in a 25 s wait, and at most once a second after the first 2 s, even with the shortest jitter', async () => {
    const s = scenario(Number.POSITIVE_INFINITY, () => 0);
    const result = await waitForOperation(s.deps, 'op-1', 25_000);
    expect(result?.status).toBe('RUNNING');
    expect(s.now()).toBe(25_000);
    expect(s.reads.length).toBeLessThanOrEqual(30);
    const late = s.reads.filter((t) => t >= 2_000);
    for (let i = 1; i < late.length - 1; i++) expect(late[i]! - late[i - 1]!).toBeGreaterThanOrEqual(1_000);
  });

  it('answers soon after the operation finishes, and never sleeps past the deadline', async () => {
    const s = scenario(300, () => 0.5);
    const result = await waitForOperation(s.deps, 'op-1', 25_000);
    expect(result?.status).toBe('SUCCEEDED');
    // 75 + 150 + 300: seen within one poll step of finishing.
    expect(s.now()).toBeLessThan(300 + 400);
    const short = scenario(Number.POSITIVE_INFINITY, () => 1);
    await waitForOperation(short.deps, 'op-1', 250);
    expect(short.now()).toBe(250);
  });
});
