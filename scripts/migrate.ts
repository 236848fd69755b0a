import { migrate } from '../lambdas/store/migrate.js';

/** `npm run migrate`: applies pending migrations to DATABASE_URL (used before a deploy). */
const url = process.env.DATABASE_URL;
if (!url) {
  process.stderr.write('DATABASE_URL is not set\n');
  process.exit(2);
}
const applied = await migrate(url);
process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
