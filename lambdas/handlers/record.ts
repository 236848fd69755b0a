import { lazyHandler } from './lazy.js';
import { buildRecord } from '../composition/steps.js';

/** The Record step: the database catches up with the host. */
export const handler = lazyHandler(buildRecord);
