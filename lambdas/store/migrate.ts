import { fileURLToPath } from 'node:url';
import { runner, type RunnerOption } from 'node-pg-migrate';
import type pg from 'pg';

// Next to the module: `lambdas/store/migrations` in the repository, `migrations/` beside the
// migration function's bundle (infra compiles them there).
const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * Applies every pending migration (idempotent; node-pg-migrate takes an advisory lock), through a
 * connection string or a client already connected. Only ever up: nothing here migrates down.
 */
export async function migrate(target: string | { client: pg.ClientBase }): Promise<string[]> {
  const options = {
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Infinity,
    log: () => undefined,
    checkOrder: true,
  } as const;
  const run: RunnerOption = typeof target === 'string' ? { ...options, databaseUrl: target } : { ...options, dbClient: target.client };
  const applied = await runner(run);
  return applied.map((m) => m.name);
}
