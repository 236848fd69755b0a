import { lazyHandler } from './lazy.js';
import { createS3Client, createSfnClient } from '../shared/aws.js';
import { s3KeptTarballStore } from '../use-cases/adapters/s3-revisions.js';
import { sfnStarter } from '../use-cases/adapters/sfn.js';
import { runCleanupOnDb } from '../composition/on-db.js';
import type { CleanupSummary } from '../use-cases/cleanup.js';
import { logger } from '../shared/logger.js';

/** The scheduled cleanup (EventBridge, every 15 minutes by default), with the drift sweep. */
export const handler = lazyHandler<unknown, CleanupSummary>(async ({ db, config, aws }) => {
  const [sfn, s3] = await Promise.all([createSfnClient(aws), createS3Client(aws)]);
  const workflow = sfnStarter(sfn, config.stateMachineArn);
  const tarballs = s3KeptTarballStore(s3, config.stagingBucket);
  return () => runCleanupOnDb({ db, workflow, log: logger, batch: config.cleanupBatch, tarballs, driftSweep: config.driftSweep });
});
