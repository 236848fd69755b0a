import { getRuntime } from '../runtime.js';
import { logger } from '../shared/logger.js';

/**
 * The migration function, run by the stack's Trigger before the other functions update: applies
 * pending up-migrations through the same verified connection the service uses. A failure fails
 * the deploy, which CloudFormation then rolls back. It never migrates down.
 */
export async function handler(): Promise<{ applied: string[] }> {
  // node-pg-migrate is only this function's, and only this path's: its own chunk in the bundle.
  const [{ db }, { migrate }] = await Promise.all([getRuntime(), import('../store/migrate.js')]);
  const client = await db.connect();
  let applied: string[];
  try {
    applied = await migrate({ client });
  } finally {
    client.release();
  }
  logger.info('migrations applied', { applied });
  return { applied };
}
