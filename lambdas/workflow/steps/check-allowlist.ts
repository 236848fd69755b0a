import { requireAllowedPlugin } from '../../plugins/allowlist-policy.js';
import { requireSameOrigin } from '../../plugins/origin-conflict.js';
import type { StepPorts } from '../ports.js';
import { Staged } from './state.js';
import { defineStep } from './step.js';

/**
 * CheckAllowlist: the first step that knows the staged plugin's name, so it binds that name to
 * where the code came from. The allowlist is judged with the source's origin (a pinned entry, and
 * a manifest name that is not its origin's own name, are refused), and an installed plugin of
 * another origin is not replaced unless the request said `replace`. Fails closed: a database
 * error surfaces as PlatformUnavailable (the workflow retries it, then fails the operation) and
 * never as "allowed".
 */
export function checkAllowlistStep({ ports }: { ports: StepPorts }) {
  return defineStep('CheckAllowlist', ports.operations, Staged, async (state) => {
    const { name } = state.staged;
    requireAllowedPlugin(await ports.allowlist.match(state.workspace.orgId, name, state.source), name, state.source);
    requireSameOrigin(await ports.installed.get(state.workspace.id, name), { plugin: name, source: state.source, replace: state.replace });
    return { state };
  });
}
