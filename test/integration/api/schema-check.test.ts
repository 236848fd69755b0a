import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiHandler } from '../../../lambdas/handlers/api.js';
import { handler as checkAllowlist } from '../../../lambdas/handlers/check-allowlist.js';
import { resetHandlers } from '../../../lambdas/handlers/lazy.js';
import { resetRuntime } from '../../../lambdas/runtime.js';
import { logger } from '../../../lambdas/shared/logger.js';
import { REQUIRED_MIGRATIONS } from '../../../lambdas/store/schema-version.js';
import { mintToken } from '../../../lambdas/store/tokens.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { httpApiEvent } from '../../support/http-api-event.js';

/**
 * The API and the steps refuse to serve against a schema older than the code: here a real,
 * migrated database from which the newest migration's record is taken away, as if the code had
 * been deployed without its migration.
 */
let t: TestDatabase;
let handler: ReturnType<typeof createApiHandler>;
let token = '';
const newest = REQUIRED_MIGRATIONS.at(-1)!;
const errorLogs: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  t = await createTestDatabase();
  vi.stubEnv('DATABASE_URL', t.url);
  vi.stubEnv('DATABASE_SECRET_ARN', undefined);
  vi.stubEnv('ADMIN_TOKEN', 'admin-token-for-schema-test');
  await resetRuntime();
  resetHandlers();
  await upsertWorkspace(t.db, 'ws-s', { orgId: 'schema-org', runtime: 'claude-code', instanceId: 'i-0123456789abcdef0' });
  token = (await mintToken(t.db, 'org', { orgId: 'schema-org' })).token;
  await t.db.query('DELETE FROM pgmigrations WHERE name = $1', [newest]);
  handler = createApiHandler();
  logger.setLogLevel('INFO');
  // Powertools writes INFO to stdout and WARN/ERROR to stderr.
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = String(chunk);
      if (!text.startsWith('{"level"')) return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
      const line = JSON.parse(text) as Record<string, unknown>;
      if (line.level === 'ERROR') errorLogs.push(line);
      return true;
    });
  }
});
afterAll(async () => {
  vi.restoreAllMocks();
  logger.setLogLevel('SILENT');
  await resetRuntime();
  resetHandlers();
  vi.unstubAllEnvs();
  await t?.close();
});

const list = () => handler(httpApiEvent('GET', '/workspaces/ws-s/plugins', { authorization: `Bearer ${token}` }));

describe('a schema older than the code', () => {
  it('answers 503 platform_unavailable naming the missing migration, on every route but /health', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await list();
      expect(res.statusCode).toBe(503);
      const body = JSON.parse(String(res.body));
      expect(body).toEqual({ code: 'platform_unavailable', error: expect.stringContaining(`migration ${newest} is not applied`) });
    }
  });

  it('keeps /health at 200 and says the schema is behind', async () => {
    const res = await handler(httpApiEvent('GET', '/health'));
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(String(res.body))).toEqual({ status: 'ok', schema: 'behind' });
  });

  it('refuses to run a workflow step as well (a retried platform_unavailable)', async () => {
    await expect(checkAllowlist({} as never)).rejects.toMatchObject({ name: 'PlatformUnavailable', message: expect.stringContaining(newest) });
  });

  it('logged it once, with the missing migrations, not once per refused request', () => {
    const schemaLines = errorLogs.filter((l) => l.message === 'database schema behind the code');
    expect(schemaLines).toHaveLength(1);
    expect(schemaLines[0]).toMatchObject({ missingMigrations: [newest] });
  });

  it('serves again as soon as the migration is applied, without a restart', async () => {
    await t.db.query('INSERT INTO pgmigrations (name, run_on) VALUES ($1, now())', [newest]);
    const res = await list();
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(String((await handler(httpApiEvent('GET', '/health'))).body))).toEqual({ status: 'ok' });
  });
});
