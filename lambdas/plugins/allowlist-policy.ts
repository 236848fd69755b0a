import { PluginNotAllowed } from '../shared/errors.js';
import type { AllowlistMatch } from '../shared/types.js';
import { originOf, originOwnName } from './origin.js';

export type AllowlistVerdict = { allowed: true } | { allowed: false; reason: 'not_listed' } | { allowed: false; reason: 'origin_not_pinned'; pin: string };

/**
 * SPEC §4: an empty allowlist allows every plugin; otherwise the name must be listed and, when its
 * entry is pinned, the origin must match the pin (without an origin a pinned entry never matches:
 * fail closed).
 */
export function allowlistVerdict(match: AllowlistMatch): AllowlistVerdict {
  if (!match.restricted) return { allowed: true };
  if (!match.listed) return { allowed: false, reason: 'not_listed' };
  if (match.pin !== null && !match.pinMatches) return { allowed: false, reason: 'origin_not_pinned', pin: match.pin };
  return { allowed: true };
}

/**
 * Refuses a plugin the org's allowlist does not allow (push and pull alike), with the documented
 * message and why. Given its origin (or source) it also refuses, while the org has an allowlist, a
 * plugin whose name is not its origin's own name: a manifest cannot borrow a listed name.
 */
export function requireAllowedPlugin(match: AllowlistMatch, pluginName: string, origin: string | null): void {
  const refuse = (why?: string) => new PluginNotAllowed(`plugin "${pluginName}" is not in the org allowlist${why ? `: ${why}` : ''}`);
  const normalized = origin === null ? null : originOf(origin);
  const verdict = allowlistVerdict(match);
  if (!verdict.allowed) {
    if (verdict.reason === 'not_listed') throw refuse();
    throw refuse(`it is allowed only from ${verdict.pin}${normalized ? `, not from ${normalized}` : ''}`);
  }
  if (!match.restricted || normalized === null) return;
  const ownName = originOwnName(normalized);
  if (ownName !== pluginName) throw refuse(`its source ${normalized} is the plugin "${ownName}"`);
}
