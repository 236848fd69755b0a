import { lazyHandler } from './lazy.js';
import { recordStep } from '../workflow/steps/record.js';

/** The Record step: the database catches up with the host. */
export const handler = lazyHandler(async ({ db }) => recordStep({ db }));
