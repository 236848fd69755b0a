import { createScratchDatabase, openDatabase } from '../../local/database.js';
import { createDb, type Db } from '../../lambdas/store/db.js';

export interface TestDatabase {
  url: string;
  db: Db;
  close(): Promise<void>;
}

/**
 * A fresh, migrated database for one test file: a new database on the PostgreSQL server at
 * `DATABASE_URL` (dropped afterwards), or an in-memory embedded Postgres when it is unset.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const local = await openDatabase();
    const db = createDb({ connectionString: local.url, max: 4 });
    return {
      url: local.url,
      db,
      close: async () => {
        await db.end();
        await local.close();
      },
    };
  }
  const scratch = await createScratchDatabase(serverUrl, 'mpd_test');
  await openDatabase({ databaseUrl: scratch.url });
  const db = createDb({ connectionString: scratch.url, max: 8 });
  return {
    url: scratch.url,
    db,
    close: async () => {
      await db.end();
      await scratch.drop();
    },
  };
}
