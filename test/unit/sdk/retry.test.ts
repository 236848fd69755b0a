import { describe, expect, it } from 'vitest';
import { retryAfterMs, retryDelayMs } from '../../../packages/sdk/src/retry.js';

const NOW = Date.parse('2026-12-01T10:00:00Z');
const POLICY = { baseMs: 1_000, maxMs: 30_000, jitter: 0.25 };

describe('Retry-After', () => {
  it('reads delta-seconds, rounding a fraction up to the whole second', () => {
    expect(retryAfterMs('5', NOW)).toBe(5_000);
    expect(retryAfterMs(' 0 ', NOW)).toBe(0);
    expect(retryAfterMs('1.2', NOW)).toBe(2_000);
  });

  it('reads an HTTP-date as the time left until it, and a past date as no wait', () => {
    expect(retryAfterMs('Tue, 01 Dec 2026 10:00:09 GMT', NOW)).toBe(9_000);
    expect(retryAfterMs('Tue, 01 Dec 2026 09:59:00 GMT', NOW)).toBe(0);
  });

  it('ignores an absent or unreadable value', () => {
    expect(retryAfterMs(null, NOW)).toBeUndefined();
    expect(retryAfterMs('', NOW)).toBeUndefined();
    expect(retryAfterMs('soon', NOW)).toBeUndefined();
    expect(retryAfterMs('-3', NOW)).toBeUndefined();
  });
});

describe('retry delay', () => {
  const deps = (random: number) => ({ now: () => NOW, random: () => random });

  it('doubles from the base with ±jitter, capped', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, null, POLICY, deps(0.5)))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000]);
    expect(retryDelayMs(1, null, POLICY, deps(0))).toBe(750);
    expect(retryDelayMs(1, null, POLICY, deps(1))).toBe(1_250);
  });

  it('prefers what the server asked, within the cap', () => {
    expect(retryDelayMs(1, '3', POLICY, deps(0))).toBe(3_000);
    expect(retryDelayMs(1, '3600', POLICY, deps(0))).toBe(30_000);
  });
});
