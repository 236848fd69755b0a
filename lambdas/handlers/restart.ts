import { lazyHandler } from './lazy.js';
import { buildRestart } from '../composition/steps.js';

/** The Restart step (skipped when not needed). */
export const handler = lazyHandler(buildRestart);
