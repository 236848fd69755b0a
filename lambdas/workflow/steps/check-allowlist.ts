import type { Db } from '../../store/db.js';
import { requireAllowedPlugin } from '../../store/allowlist.js';
import { defineStep } from './step.js';

/**
 * CheckAllowlist: fails closed. A database error surfaces as PlatformUnavailable (transient:
 * the workflow retries it with backoff, then fails the operation) and never as "allowed".
 */
export function checkAllowlistStep(deps: { db: Db }) {
  return defineStep('CheckAllowlist', deps.db, async (state) => {
    const plugin = state.staged?.name;
    if (!plugin) throw new Error('CheckAllowlist needs a staged plugin');
    await requireAllowedPlugin(deps.db, state.workspace.orgId, plugin);
    return { state };
  });
}
