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
  it('backs off from 25 ms, growing ×1.5 to 2 s, each sleep jittered within the upper half of its step', () => {
    const steps = [25, 37.5, 56.25, 84.375, 126.5625, 189.84375, 284.765625, 427.1484375, 640.72265625, 961.083984375, 1441.6259765625, 2000, 2000];
    steps.forEach((step, attempt) => {
      expect(pollDelay(attempt, () => 0)).toBeCloseTo(step / 2, 6);
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

  it('reads the database at most 36 times in a 25 s wait, and at most once a second after the first 2 s, even with the shortest jitter', async () => {
    const s = scenario(Number.POSITIVE_INFINITY, () => 0);
    const result = await waitForOperation(s.deps, 'op-1', 25_000);
    expect(result?.status).toBe('RUNNING');
    expect(s.now()).toBe(25_000);
    expect(s.reads.length).toBeLessThanOrEqual(36);
    const late = s.reads.filter((t) => t >= 2_000);
    for (let i = 1; i < late.length - 1; i++) expect(late[i]! - late[i - 1]!).toBeGreaterThanOrEqual(1_000);
  });

  it('answers soon after the operation finishes, and never sleeps past the deadline', async () => {
    const s = scenario(300, () => 0.5);
    const result = await waitForOperation(s.deps, 'op-1', 25_000);
    expect(result?.status).toBe('SUCCEEDED');
    // Seen within one poll step of finishing (the step around 300 ms is ~190 ms).
    expect(s.now()).toBeLessThan(300 + 200);
    const short = scenario(Number.POSITIVE_INFINITY, () => 1);
    await waitForOperation(short.deps, 'op-1', 250);
    expect(short.now()).toBe(250);
  });
});
