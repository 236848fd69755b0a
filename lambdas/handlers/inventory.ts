import { lazyHandler } from './lazy.js';
import { buildInventory } from '../composition/steps.js';

/** The Inventory step: what the host really has under plugins/, held against the records (a verify; a repair's first step). */
export const handler = lazyHandler(buildInventory);
