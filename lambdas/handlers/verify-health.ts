import { lazyHandler } from './lazy.js';
import { buildVerifyHealth } from '../composition/steps.js';

/** The VerifyHealth step: the health gate after a restart (skipped when there was none). */
export const handler = lazyHandler(buildVerifyHealth);
