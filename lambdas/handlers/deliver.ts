import { lazyHandler } from './lazy.js';
import { buildDeliver } from '../composition/steps.js';

/** The Deliver step: the workspace host installs the staged plugin atomically. */
export const handler = lazyHandler(buildDeliver);
