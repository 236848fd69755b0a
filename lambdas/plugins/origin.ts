import { InvalidSource } from '../shared/errors.js';
import { quote } from './quote.js';

// SPEC §2's scheme syntax. Not `parseSource` from source.ts: that module pulls in every resolver
// (and the S3 client), which the store and the allowlist step must not load.
const SCHEME_RE = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;

/**
 * SPEC §4 *origins*: where a plugin's code comes from, whatever version of it. `github://acme/lint`,
 * `local://code-review-rules`, `clawhub://name`. Two sources of one origin are the same plugin.
 */
export type Origin = string;

/**
 * The source without its `#ref` or `@version`, scheme lower-cased; a bare name is `local://<name>`.
 * GitHub owners and repositories are case-insensitive, so a `github://` origin is all lower case.
 * Mirrored in SQL by `plugin_origin()` (migration 1732240000004) for the cleanup's allowlist check.
 */
export function originOf(source: string): Origin {
  if (source === '') throw new InvalidSource('source is empty');
  const match = SCHEME_RE.exec(source);
  if (!match && source.includes('://')) throw new InvalidSource(`invalid source ${quote(source)}: expected <scheme>://<spec> or a plugin name`);
  const scheme = match ? (match[1] ?? '').toLowerCase() : 'local';
  const spec = match ? source.slice(match[0].length) : source;
  let path = spec.split('#', 1)[0] ?? '';
  const at = path.lastIndexOf('@');
  if (at !== -1) path = path.slice(0, at);
  return `${scheme}://${scheme === 'github' ? path.toLowerCase() : path}`;
}

/** The name the origin itself gives its plugin: the repository name, the registry key, the clawhub name. */
export function originOwnName(origin: Origin): string {
  const spec = origin.slice(origin.indexOf('://') + 3);
  return spec.slice(spec.lastIndexOf('/') + 1);
}

const OWNER_PATTERN_RE = /^([a-z][a-z0-9+.-]*:\/\/)([^/#@*]+)\/\*$/;

/**
 * Checks an allowlist pin and returns it normalized: an exact origin (`github://acme/lint`) or an
 * owner prefix (`github://acme/*`). A pin carrying a ref or version is refused rather than widened.
 */
export function parseOriginPattern(pin: string): string {
  const bad = (why: string) => new InvalidSource(`invalid allowlist source ${quote(pin)}: ${why}`);
  if (/[#@]/.test(pin.slice(pin.indexOf('://') + 1))) throw bad('pin an origin, without #ref or @version');
  if (pin.endsWith('/*')) {
    const prefix = originOf(pin.slice(0, -2));
    const pattern = `${prefix}/*`;
    if (!OWNER_PATTERN_RE.test(pattern)) throw bad('an owner prefix is <scheme>://<owner>/*');
    return pattern;
  }
  if (pin.includes('*')) throw bad('"*" may only end an owner prefix (<scheme>://<owner>/*)');
  const origin = originOf(pin);
  if (originOwnName(origin) === '') throw bad('it names no plugin');
  return origin;
}
