import { describe, expect, it } from 'vitest';
import { AllowlistBody, At, InstallBody, OperationsQuery, preferWaitSeconds } from '../../../lambdas/api/schemas.js';

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
    for (const text of [
      '2027-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-12-01T09:00:00',
      '2026-12-01',
      '2026-12-01T09:60:00Z',
      '2026-12-01T09:00:00+24:00',
    ]) {
      expect(At.safeParse(text).success, text).toBe(false);
    }
  });
});

describe('Prefer: wait=N', () => {
  it('takes a whole number of seconds, capped at 25', () => {
    expect(preferWaitSeconds('wait=10')).toBe(10);
    expect(preferWaitSeconds('respond-async, wait=3')).toBe(3);
    expect(preferWaitSeconds('wait=5; foo')).toBe(5);
    expect(preferWaitSeconds('wait=90')).toBe(25);
  });

  it('reads anything else as no wait, not as a shorter one', () => {
    for (const prefer of ['wait=1e1', 'wait=2.5', 'wait=-1', 'wait=', 'wait=10s', undefined]) expect(preferWaitSeconds(prefer), String(prefer)).toBe(0);
  });
});

describe('install body', () => {
  it('takes replace, default false', () => {
    expect(InstallBody.parse({ source: 'x' }).replace).toBe(false);
    expect(InstallBody.parse({ source: 'x', replace: true }).replace).toBe(true);
    expect(InstallBody.safeParse({ source: 'x', replace: 'yes' }).success).toBe(false);
  });
});

describe('allowlist body', () => {
  it('takes bare names and {name, source} pins, and nothing else', () => {
    const plugins = ['hello-skill', { name: 'code-review-rules', source: 'local://code-review-rules' }, { name: 'lint', source: 'github://acme/*' }];
    expect(AllowlistBody.parse({ plugins, enabled_by: 'ops' }).plugins).toEqual(plugins);
    expect(AllowlistBody.safeParse({ plugins: [{ name: 'lint', src: 'github://acme/*' }], enabled_by: 'ops' }).success).toBe(false);
    expect(AllowlistBody.safeParse({ plugins: [42], enabled_by: 'ops' }).success).toBe(false);
  });
});
