import type { Db } from '../../store/db.js';
import { requireAllowedPlugin } from '../../store/allowlist.js';
import { Staged } from './state.js';
import { defineStep } from './step.js';

/**
 * CheckAllowlist: fails closed. A database error surfaces as PlatformUnavailable (transient:
 * the workflow retries it with backoff, then fails the operation) and never as "allowed".
 */
export function checkAllowlistStep(deps: { db: Db }) {
  return defineStep('CheckAllowlist', deps.db, Staged, async (state) => {
    await requireAllowedPlugin(deps.db, state.workspace.orgId, state.staged.name);
    return { state };
  });
}
