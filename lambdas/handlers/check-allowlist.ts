import { lazyHandler } from './lazy.js';
import { checkAllowlistStep } from '../workflow/steps/check-allowlist.js';

/** The CheckAllowlist step (fails closed). */
export const handler = lazyHandler(async ({ db }) => checkAllowlistStep({ db }));
