import { lazyHandler } from './lazy.js';
import { createSsmClient } from '../shared/aws.js';
import { removeStep } from '../workflow/steps/remove.js';
import { deliveryDeps } from '../workflow/steps/lease.js';

/** The Remove step of an uninstall. */
export const handler = lazyHandler(async ({ db, config, aws }) => removeStep({ db, config, delivery: deliveryDeps(await createSsmClient(aws), config, aws) }));
