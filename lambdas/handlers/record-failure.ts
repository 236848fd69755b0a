import { lazyHandler } from './lazy.js';
import { buildRecordFailure } from '../composition/steps.js';

/** RecordFailure: the Catch target of every step. */
export const handler = lazyHandler(buildRecordFailure);
