import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { FlakyProxy } from '../../support/flaky-proxy.js';
import { createDb, retryUnavailable, DB_RETRY_BUDGET_MS, type Db } from '../../../lambdas/store/db.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { getInstalled, upsertInstalled, type InstalledInput } from '../../../lambdas/store/installed.js';
import { PlatformUnavailable } from '../../../lambdas/shared/errors.js';

let t: TestDatabase;
let proxy: FlakyProxy;
let viaProxy: Db;
beforeAll(async () => {
  t = await createTestDatabase();
  await upsertWorkspace(t.db, 'ws-retry', { orgId: 'org-retry', runtime: 'claude-code' });
  const url = new URL(t.url);
  proxy = new FlakyProxy({ host: url.hostname, port: Number(url.port) });
  url.port = String(await proxy.listen());
  viaProxy = createDb({ connectionString: url.toString(), max: 2 });
});
afterAll(async () => {
  await viaProxy?.end();
  await proxy?.close();
  await t?.close();
});

const row = (name: string): InstalledInput => ({
  workspaceId: 'ws-retry',
  name,
  version: '1.0.0',
  source: `local://${name}`,
  sha256: 'a'.repeat(64),
  skills: [],
  runtimes: [],
  uninstallAt: null,
});

describe('a write a step depends on, during a database outage', () => {
  it('gets through once the database is back, within the failover budget', async () => {
    await upsertInstalled(viaProxy, row('warm-up'));
    proxy.outage();
    const refusedBefore = proxy.refused;
    let waits = 0;
    await retryUnavailable(() => upsertInstalled(viaProxy, row('after-outage')), {
      // The outage ends after a few backoff waits: short real ones, so the test never waits a failover out.
      sleep: async () => {
        waits += 1;
        if (waits === 4) proxy.restore();
        await new Promise((resolve) => setTimeout(resolve, 5));
      },
    });
    expect(waits).toBeGreaterThanOrEqual(4);
    expect(proxy.refused).toBeGreaterThan(refusedBefore);
    expect(await getInstalled(t.db, 'ws-retry', 'after-outage')).toMatchObject({ name: 'after-outage', version: '1.0.0' });
  });

  it('gives up with PlatformUnavailable when the outage outlasts the budget, having written nothing', async () => {
    proxy.outage();
    const refusedBefore = proxy.refused;
    const attempt = retryUnavailable(() => upsertInstalled(viaProxy, row('never')), { budgetMs: 300, baseDelayMs: 20, maxDelayMs: 50 });
    await expect(attempt).rejects.toBeInstanceOf(PlatformUnavailable);
    await expect(attempt).rejects.toMatchObject({ code: 'platform_unavailable', status: 503, transient: true });
    expect(proxy.refused).toBeGreaterThan(refusedBefore);
    proxy.restore();
    expect(await getInstalled(t.db, 'ws-retry', 'never')).toBeNull();
  });
});

describe('the retry policy', () => {
  /** A clock that moves only when the helper waits. */
  const virtualTime = (random: () => number) => {
    let clock = 0;
    const waits: number[] = [];
    return {
      waits,
      options: {
        now: () => clock,
        random,
        sleep: async (ms: number) => {
          waits.push(ms);
          clock += ms;
        },
      },
    };
  };
  const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

  it('backs off exponentially up to a cap, with full jitter, for at least 60 s by default', async () => {
    const time = virtualTime(() => 0.999);
    let calls = 0;
    const attempt = retryUnavailable(async () => {
      calls += 1;
      throw refused();
    }, time.options);
    await expect(attempt).rejects.toMatchObject({ name: 'PlatformUnavailable', cause: expect.objectContaining({ code: 'ECONNREFUSED' }) });
    expect(DB_RETRY_BUDGET_MS).toBeGreaterThanOrEqual(60_000);
    expect(time.waits.slice(0, 6).map(Math.round)).toEqual([200, 400, 799, 1598, 3197, 6394]);
    expect(Math.max(...time.waits)).toBeLessThanOrEqual(10_000);
    expect(time.waits.reduce((a, b) => a + b, 0)).toBeCloseTo(DB_RETRY_BUDGET_MS, 6);
    expect(calls).toBe(time.waits.length + 1);

    const jittered = virtualTime(() => 0.25);
    await expect(
      retryUnavailable(
        async () => {
          throw refused();
        },
        { ...jittered.options, budgetMs: 1_000 },
      ),
    ).rejects.toThrow(PlatformUnavailable);
    expect(jittered.waits.slice(0, 3)).toEqual([50, 100, 200]);
  });

  it('retries an unavailable error wrapped as PlatformUnavailable, and returns the result once through', async () => {
    const time = virtualTime(() => 0.5);
    let calls = 0;
    const result = await retryUnavailable(async () => {
      calls += 1;
      if (calls < 3) throw new PlatformUnavailable('the platform database is unavailable', {}, { cause: refused() });
      return 'written';
    }, time.options);
    expect(result).toBe('written');
    expect(time.waits).toEqual([100, 200]);
  });

  it('never retries an error that is not an outage', async () => {
    const time = virtualTime(() => 0.5);
    let calls = 0;
    const syntax = Object.assign(new Error('syntax error at or near "SELEC"'), { code: '42601' });
    await expect(
      retryUnavailable(async () => {
        calls += 1;
        throw syntax;
      }, time.options),
    ).rejects.toBe(syntax);
    const wrappedOther = new PlatformUnavailable('the delivery workflow could not be started; try again');
    await expect(
      retryUnavailable(async () => {
        calls += 1;
        throw wrappedOther;
      }, time.options),
    ).rejects.toBe(wrappedOther);
    expect(calls).toBe(2);
    expect(time.waits).toEqual([]);
  });
});
