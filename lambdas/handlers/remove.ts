import { lazyHandler } from './lazy.js';
import { buildRemove } from '../composition/steps.js';

/** The Remove step of an uninstall. */
export const handler = lazyHandler(buildRemove);
