import { PlatformUnavailable } from '../shared/errors.js';
import type { Log } from '../shared/logger.js';
import type { Queryable } from './db.js';

/**
 * Every migration this code needs applied, by the name node-pg-migrate records in `pgmigrations`
 * (the file name without its extension). Hand-kept, and held to `lambdas/store/migrations/` by
 * test/unit/infra/schema-version.test.ts, so a new migration cannot be forgotten here. It is a
 * constant, not a directory listing, because only the migration function's bundle carries the
 * migration files.
 */
export const REQUIRED_MIGRATIONS: readonly string[] = [
  '1732240000000_initial-schema',
  '1732240000001_operation-request-hash',
  '1732240000002_uninstall-attempts',
  '1732240000003_restart-pending',
  '1732240000004_allowlist-source-pins',
  '1732240000005_installed-via',
  '1732240000010_operation-execution-name',
  '1732240000020_operations-in-flight-index',
  '1732240000030_eic-tunnel-slots',
  '1732240000040_one-running-uninstall',
  '1732240000050_plugin-revisions',
  '1732240000060_plugin-trust',
  '1732240000070_drift',
  '1732240000080_rollouts',
];

/** The required migrations the database has not applied, in order (none: the schema is current). */
export async function missingMigrations(db: Queryable, required: readonly string[] = REQUIRED_MIGRATIONS): Promise<string[]> {
  let applied: Set<string>;
  try {
    applied = new Set((await db.query<{ name: string }>('SELECT name FROM pgmigrations')).rows.map((r) => r.name));
  } catch (err) {
    // No migrations table: nothing was ever migrated. Anything else (the database down) is the caller's.
    if ((err as { code?: string }).code !== '42P01') throw err;
    applied = new Set();
  }
  return required.filter((name) => !applied.has(name));
}

/**
 * A gate the serving functions pass before their first request: the API and the steps refuse to
 * run against a schema older than they need (503 platform_unavailable naming the first missing
 * migration), rather than failing later on a missing column. Passing once is remembered for the
 * container's life (migrations only ever go up); a failure is checked again on the next request,
 * so the service recovers as soon as the migration function has run. Logged once per container
 * for each missing migration, not on every refused request.
 */
export function schemaGate(log: Log, required: readonly string[] = REQUIRED_MIGRATIONS): (db: Queryable) => Promise<void> {
  let current = false;
  let logged: string | undefined;
  return async (db) => {
    if (current) return;
    const missing = await missingMigrations(db, required).catch((err: unknown) => {
      throw new PlatformUnavailable('the platform database is unavailable', {}, { cause: err });
    });
    if (missing.length === 0) {
      current = true;
      return;
    }
    const message = `the database schema is older than this code needs: migration ${missing[0]} is not applied${missing.length > 1 ? ` (nor ${missing.length - 1} more)` : ''}; run the migration function (or npm run migrate)`;
    if (logged !== missing[0]) {
      logged = missing[0];
      log.error('database schema behind the code', { missingMigrations: missing });
    }
    throw new PlatformUnavailable(message, { missingMigrations: missing });
  };
}
