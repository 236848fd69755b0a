import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { App, Duration, Stack } from 'aws-cdk-lib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HandlerFunction } from '../../infra/constructs/handler-function.js';
import { MIGRATION_FILES } from '../../infra/stack.js';
import { createScratchDatabase } from '../../local/database.js';
import { REQUIRED_MIGRATIONS } from '../../lambdas/store/schema-version.js';

/**
 * The migration function as it ships: synthesized with the stack's own bundling recipe (esbuild,
 * ESM, minified, the migrations compiled beside the bundle by the command hooks), then the asset
 * run by plain Node (no TypeScript loader, no repository on the path) against a fresh database.
 */
const run = promisify(execFile);
let outdir: string;
let assetDir: string;
let database: { url: string; close(): Promise<void> };

async function freshDatabase(): Promise<{ url: string; close(): Promise<void> }> {
  const serverUrl = process.env.DATABASE_URL;
  if (serverUrl) {
    const scratch = await createScratchDatabase(serverUrl, 'mpd_bundle');
    return { url: scratch.url, close: scratch.drop };
  }
  const db = await PGlite.create();
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 8 });
  await server.start();
  const port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    close: async () => {
      await server.stop();
      await db.close();
    },
  };
}

beforeAll(async () => {
  outdir = mkdtempSync(path.join(tmpdir(), 'mpd-migrate-bundle-'));
  const app = new App({ outdir });
  const stack = new Stack(app, 'MigrateOnly');
  new HandlerFunction(stack, 'MigrateFunction', {
    handler: 'migrate',
    description: 'Applies pending database migrations',
    timeout: Duration.minutes(5),
    commandHooks: MIGRATION_FILES,
  });
  app.synth();
  const assets = readdirSync(outdir).filter((d) => d.startsWith('asset.'));
  expect(assets).toHaveLength(1);
  assetDir = path.join(outdir, assets[0]!);
  database = await freshDatabase();
}, 240_000);
afterAll(async () => {
  await database?.close();
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

const invoke = async () => {
  const { stdout } = await run(
    process.execPath,
    ['--input-type=module', '-e', "const { handler } = await import('./index.mjs'); process.stdout.write(JSON.stringify(await handler()));"],
    {
      cwd: assetDir,
      // Only what the stack sets that matters here: the connection; no TypeScript loader on the path.
      env: { PATH: process.env.PATH, DATABASE_URL: database.url, AWS_REGION: 'eu-west-1', LOG_LEVEL: 'SILENT', NODE_OPTIONS: '' },
      timeout: 120_000,
    },
  );
  return JSON.parse(stdout) as { applied: string[] };
};

describe('the migration function bundle', () => {
  it('carries every migration, compiled to ES modules beside index.mjs', () => {
    expect(existsSync(path.join(assetDir, 'index.mjs'))).toBe(true);
    const shipped = readdirSync(path.join(assetDir, 'migrations')).sort();
    expect(shipped).toEqual(REQUIRED_MIGRATIONS.map((m) => `${m}.mjs`));
  });

  it('applies every migration to a fresh database, and nothing the second time', async () => {
    expect((await invoke()).applied).toEqual([...REQUIRED_MIGRATIONS]);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string }>('SELECT name FROM pgmigrations ORDER BY id');
      expect(rows.map((r) => r.name)).toEqual([...REQUIRED_MIGRATIONS]);
      const tables = await client.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
      expect(tables.rows.map((r) => r.table_name)).toEqual(expect.arrayContaining(['plugin_operations', 'workspaces', 'auth_tokens']));
    } finally {
      await client.end();
    }
    expect((await invoke()).applied).toEqual([]);
  }, 240_000);
});
