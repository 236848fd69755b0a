import * as z from '../zod.js';

/** The names the API, the plugin format and the SDK all check the same way. */

/** SPEC §2: plugin (and skill) names. */
export const PLUGIN_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,127}$/;
export const PluginName = z.string().check(z.regex(PLUGIN_NAME_RE)).brand<'PluginName'>();
export type PluginName = z.infer<typeof PluginName>;

export const ContentHash = z
  .string()
  .check(z.regex(/^[0-9a-f]{64}$/))
  .brand<'ContentHash'>();
export type ContentHash = z.infer<typeof ContentHash>;

/** Workspace and org ids: what the admin routes accept and the SDK checks before it asks. */
export const WORKSPACE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
