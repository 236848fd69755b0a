import { lazyHandler } from './lazy.js';
import { createS3Client, createSsmClient } from '../shared/aws.js';
import { deliverStep } from '../workflow/steps/deliver.js';
import { deliveryDeps } from '../workflow/steps/lease.js';

/** The Deliver step: the workspace host installs the staged plugin atomically. */
export const handler = lazyHandler(async ({ db, config, aws }) =>
  deliverStep({ db, config, s3: await createS3Client(aws), delivery: deliveryDeps(await createSsmClient(aws), config, aws) }),
);
