import { PluginSourceConflict } from '../shared/errors.js';
import { originOf } from './origin.js';

/**
 * SPEC §4 *origins*: an install never replaces an installed plugin that came from another origin
 * (a `github://anyone/x` whose manifest borrows the name of the curated `local://x`) unless the
 * request said `"replace": true`. Another version of the same origin is an ordinary update.
 * Pure, so the API (when the source names its plugin) and CheckAllowlist (once Stage knows the
 * name) apply the same rule.
 */
export function requireSameOrigin(installed: { source: string } | null, request: { plugin: string; source: string; replace: boolean }): void {
  if (!installed || request.replace) return;
  const was = originOf(installed.source);
  const now = originOf(request.source);
  if (was === now) return;
  throw new PluginSourceConflict(
    `plugin "${request.plugin}" is installed from ${installed.source}, not from ${request.source}: send "replace": true to replace it`,
    { plugin: request.plugin, installed_source: installed.source, requested_source: request.source },
  );
}
