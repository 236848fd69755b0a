import { describe, expect, it } from 'vitest';
import { At, OperationsQuery } from '../../../lambdas/api/schemas.js';

describe('GET /operations query', () => {
  it('treats an empty filter as no filter and still refuses an unknown status', () => {
    expect(OperationsQuery.parse({ status: '', workspaceId: '' })).toEqual({ limit: 50 });
    expect(OperationsQuery.safeParse({ status: 'DONE' }).success).toBe(false);
  });
});

describe('DELETE ?at= times', () => {
  it('reads a date-time with Z or an offset', () => {
    expect(At.parse('2026-12-01T09:00:00Z').when.toISOString()).toBe('2026-12-01T09:00:00.000Z');
    expect(At.parse('2026-12-01T09:00+02:00').when.toISOString()).toBe('2026-12-01T07:00:00.000Z');
    expect(At.parse('2028-02-29T00:00:00.5Z').when.toISOString()).toBe('2028-02-29T00:00:00.500Z');
  });

  it('refuses what would be rolled over or read in an unstated zone', () => {
    for (const text of ['2027-02-29T00:00:00Z', '2026-04-31T00:00:00Z', '2026-12-01T09:00:00', '2026-12-01', '2026-12-01T09:60:00Z', '2026-12-01T09:00:00+24:00']) {
      expect(At.safeParse(text).success, text).toBe(false);
    }
  });
});
