import { getRuntime } from '../runtime.js';
import { logger } from '../shared/logger.js';
import { migrate } from '../store/migrate.js';

/**
 * The migration function, run by the stack's Trigger before the other functions update: applies
 * pending up-migrations through the same verified connection the service uses. A failure fails
 * the deploy, which CloudFormation then rolls back. It never migrates down.
 */
export async function handler(): Promise<{ applied: string[] }> {
  const { db } = await getRuntime();
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
