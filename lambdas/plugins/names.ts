import { InvalidPluginName } from '../shared/errors.js';
import { PLUGIN_NAME_RE, type PluginName } from '../shared/types.js';
import { messageQuote } from '@molecule/plugins-sdk/contract/message-quote';

export function isPluginName(value: unknown): value is PluginName {
  return typeof value === 'string' && PLUGIN_NAME_RE.test(value);
}

/**
 * Checks a plugin (or skill) name against SPEC §2 and returns it typed; `what` names the
 * thing in the message, e.g. `skill name`.
 */
export function parsePluginName(value: string, what = 'plugin name'): PluginName {
  if (isPluginName(value)) return value;
  throw new InvalidPluginName(`invalid ${what} ${messageQuote(value)}: must match ${PLUGIN_NAME_RE.source}`);
}
