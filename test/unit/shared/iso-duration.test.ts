import { describe, expect, it } from 'vitest';
import { addIsoDuration, parseIsoDuration } from '../../../lambdas/shared/iso-duration.js';

const from = new Date('2026-01-31T10:00:00Z');
const after = (text: string) => {
  const duration = parseIsoDuration(text);
  return duration && (addIsoDuration(from, duration)?.toISOString() ?? null);
};

describe('uninstallAfter durations', () => {
  it('adds days, weeks, hours, minutes and seconds as fixed lengths', () => {
    expect(after('P7D')).toBe('2026-02-07T10:00:00.000Z');
    expect(after('P2W')).toBe('2026-02-14T10:00:00.000Z');
    expect(after('P1DT30M')).toBe('2026-02-01T10:30:00.000Z');
    expect(after('PT12H')).toBe('2026-01-31T22:00:00.000Z');
    expect(after('PT0.5S')).toBe('2026-01-31T10:00:00.500Z');
  });

  it('adds years and months on the calendar, keeping to the last day of a shorter month', () => {
    expect(after('P1M')).toBe('2026-02-28T10:00:00.000Z');
    expect(after('P1Y')).toBe('2027-01-31T10:00:00.000Z');
    expect(after('P1Y2M3DT4H5M6S')).toBe('2027-04-03T14:05:06.000Z');
  });

  it('accepts a fraction on the smallest unit written, with a point or a comma', () => {
    expect(after('PT1.5H')).toBe('2026-01-31T11:30:00.000Z');
    expect(after('P0,5D')).toBe('2026-01-31T22:00:00.000Z');
    expect(after('P0D')).toBe(from.toISOString());
  });

  it('refuses what is not a duration, and fractions that have no fixed length or are not last', () => {
    for (const text of ['', 'P', 'PT', '7 days', 'P1H', 'PT1D', 'p7d', 'P-1D', 'P1.5M', 'P0.5Y', 'P1.5DT2H', 'P1DT']) {
      expect(parseIsoDuration(text), text).toBeNull();
    }
  });

  it('reports a sum no date can hold as null rather than an invalid date', () => {
    expect(after('P100000000D')).toBeNull();
    expect(after('PT999999999999999999999S')).toBeNull();
    expect(after('P99999999999999Y')).toBeNull();
  });
});
