import { lazyHandler } from './lazy.js';
import { buildRepair } from '../composition/steps.js';

/** The Repair step: reinstall, adopt or clean what the inventory found drifted. */
export const handler = lazyHandler(buildRepair);
