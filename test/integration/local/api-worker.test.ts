import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { spawnApiThread, type ApiWorker } from '../../../local/api-worker.js';
import { LocalInstances } from '../../../local/instances.js';
import { logger } from '../../../lambdas/shared/logger.js';

/**
 * The local API in its worker thread: it answers over real HTTP with its own database pool, the
 * instance stop/start routes change the instances this thread owns, and close() ends the thread.
 */
let t: TestDatabase;
let api: ApiWorker;
const dir = mkdtempSync(join(tmpdir(), 'api-worker-'));
const instances = new LocalInstances(dir);
const INSTANCE = 'i-0123456789abcdef0';
const ADMIN = 'admin-api-worker';

beforeAll(async () => {
  t = await createTestDatabase();
  api = await spawnApiThread({ instances, log: logger }).start({
    port: 0,
    maxBodyBytes: 64 * 1024,
    env: { DATABASE_URL: t.url, ADMIN_TOKEN: ADMIN, STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:m' },
  });
}, 180_000);
afterAll(async () => {
  await api?.close();
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

const post = (path: string, token?: string) =>
  fetch(api.url + path, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(60_000) });

describe('the API worker thread', () => {
  it('stops and starts the instances of the thread that owns them, behind admin auth', async () => {
    const refused = await post(`/admin/local/instances/${INSTANCE}/stop`, 'not-a-token');
    expect(refused.status).toBe(401);
    expect(instances.isRunning(INSTANCE)).toBe(true);

    const stopped = await post(`/admin/local/instances/${INSTANCE}/stop`, ADMIN);
    expect(stopped.status).toBe(200);
    expect(await stopped.json()).toEqual({ instanceId: INSTANCE, state: 'stopped' });
    expect(instances.isRunning(INSTANCE)).toBe(false);

    const started = await post(`/admin/local/instances/${INSTANCE}/start`, ADMIN);
    expect(started.status).toBe(200);
    expect(instances.isRunning(INSTANCE)).toBe(true);
  }, 60_000);

  it("reports its own thread's CPU, which grows with the requests it serves", async () => {
    await api.usage();
    for (let i = 0; i < 30; i++) await post(`/admin/local/instances/${INSTANCE}/start`, ADMIN);
    const usage = await api.usage();
    expect(usage.cpuMs).toBeGreaterThan(0);
    expect(usage.eventLoopUtilization).toBeGreaterThan(0);
  }, 60_000);

  it('closes: the port stops answering and a second close is a no-op', async () => {
    await api.close();
    await expect(fetch(`${api.url}/health`, { signal: AbortSignal.timeout(10_000) })).rejects.toThrow();
    await api.close();
  }, 60_000);
});
