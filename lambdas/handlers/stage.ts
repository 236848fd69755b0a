import { lazyHandler } from './lazy.js';
import { buildStage } from '../composition/stage.js';

/** The Stage step: fetch, validate and normalize the plugin into the staging bucket. */
export const handler = lazyHandler(buildStage);
