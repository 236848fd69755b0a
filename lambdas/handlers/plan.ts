import { lazyHandler } from './lazy.js';
import { buildPlan } from '../composition/steps.js';

/** The Plan step: what an install would change, closing the plan operation. */
export const handler = lazyHandler(buildPlan);
