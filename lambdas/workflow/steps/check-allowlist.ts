import type { Db } from '../../store/db.js';
import { isPluginAllowed } from '../../store/allowlist.js';
import { PluginNotAllowed } from '../../shared/errors.js';
import { defineStep } from './step.js';

/**
 * CheckAllowlist: fails closed. A database error surfaces as PlatformUnavailable (transient:
 * the workflow retries it with backoff, then fails the operation) and never as "allowed".
 */
export function checkAllowlistStep(deps: { db: Db }) {
  return defineStep('CheckAllowlist', deps.db, async (state) => {
    const plugin = state.staged?.name;
    if (!plugin) throw new Error('CheckAllowlist needs a staged plugin');
    if (!(await isPluginAllowed(deps.db, state.workspace.orgId, plugin))) {
      throw new PluginNotAllowed(`plugin "${plugin}" is not in the org allowlist`);
    }
    return { state };
  });
}
