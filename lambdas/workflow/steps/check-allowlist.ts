import { requireAllowedPlugin } from '../../plugins/allowlist-policy.js';
import { requireSameOrigin } from '../../plugins/origin-conflict.js';
import { PluginNotAllowed, PluginSourceConflict } from '../../shared/errors.js';
import type { StepPorts } from '../ports.js';
import { Staged } from './state.js';
import { defineStep } from './step.js';

/**
 * CheckAllowlist: the first step that knows the staged plugin's name, so it binds that name to
 * where the code came from. The allowlist is judged with the source's origin (a pinned entry, and
 * a manifest name that is not its origin's own name, are refused), and an installed plugin of
 * another origin is not replaced unless the request said `replace`. Fails closed: a database
 * error surfaces as PlatformUnavailable (the workflow retries it, then fails the operation) and
 * never as "allowed". A rollback is held to the allowlist too. A plan is not refused: it says what refused it (`blockedBy`, SPEC §9).
 */
export function checkAllowlistStep({ ports }: { ports: StepPorts }) {
  return defineStep('CheckAllowlist', ports.operations, Staged, async (state, log) => {
    const { name } = state.staged;
    try {
      requireAllowedPlugin(await ports.allowlist.match(state.workspace.orgId, name, state.source), name, state.source);
      // A rollback puts back what this workspace had: an origin it replaced on purpose is no conflict.
      if (state.kind !== 'rollback') {
        requireSameOrigin(await ports.installed.get(state.workspace.id, name), { plugin: name, source: state.source, replace: state.replace });
      }
    } catch (err) {
      if (state.kind !== 'plan' || !(err instanceof PluginNotAllowed || err instanceof PluginSourceConflict)) throw err;
      log.info('the planned install would be refused', { blockedBy: err.code, reason: err.message });
      // A signature Stage refused would have refused the install first.
      return { state: { ...state, blockedBy: state.blockedBy ?? err.code } };
    }
    return { state };
  });
}
