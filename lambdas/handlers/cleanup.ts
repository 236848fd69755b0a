import { lazyHandler } from './lazy.js';
import { createSfnClient } from '../shared/aws.js';
import { sfnStarter } from '../use-cases/adapters/sfn.js';
import { runCleanupOnDb } from '../composition/on-db.js';
import type { CleanupSummary } from '../use-cases/cleanup.js';
import { logger } from '../shared/logger.js';

/** The scheduled cleanup (EventBridge, every 15 minutes by default). */
export const handler = lazyHandler<unknown, CleanupSummary>(async ({ db, config, aws }) => {
  const workflow = sfnStarter(await createSfnClient(aws), config.stateMachineArn);
  return () => runCleanupOnDb({ db, workflow, log: logger, batch: config.cleanupBatch });
});
