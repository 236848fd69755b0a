import { lazyHandler } from './lazy.js';
import { buildCheckAllowlist } from '../composition/steps.js';

/** The CheckAllowlist step (fails closed). */
export const handler = lazyHandler(buildCheckAllowlist);
