import { lazyHandler } from './lazy.js';
import { buildRollout } from '../composition/rollout.js';

/** The Rollout function: RolloutPrepare, RolloutTick and RolloutFailed (SPEC §10). */
export const handler = lazyHandler(buildRollout);
