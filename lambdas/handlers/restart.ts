import { lazyHandler } from './lazy.js';
import { createSsmClient } from '../shared/aws.js';
import { restartStep } from '../workflow/steps/restart.js';
import { deliveryDeps } from '../workflow/steps/lease.js';

/** The Restart step (skipped when not needed). */
export const handler = lazyHandler(async ({ db, config, aws }) => restartStep({ db, delivery: deliveryDeps(await createSsmClient(aws), config, aws) }));
