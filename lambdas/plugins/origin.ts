import { InvalidSource } from '../shared/errors.js';
import { PLUGIN_NAME_RE } from '../shared/types.js';
import { messageQuote } from '@molecule/plugins-sdk/contract/message-quote';

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
  if (!match && source.includes('://')) throw new InvalidSource(`invalid source ${messageQuote(source)}: expected <scheme>://<spec> or a plugin name`);
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

// GitHub's own rules for account and repository names (`.` and `..` are no repository).
const GITHUB_OWNER_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/;
const GITHUB_REPO_RE = /^(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/;

/** `owner/repo` as GitHub names them, or null: no more path, no `..`, no leading `-`. */
export function githubRepo(path: string): { owner: string; repo: string } | null {
  const [owner = '', repo = '', ...extra] = path.split('/');
  return GITHUB_OWNER_RE.test(owner) && GITHUB_REPO_RE.test(repo) && extra.length === 0 ? { owner, repo } : null;
}

/** The schemes an origin can have, whichever resolvers this deployment registers. */
const ORIGIN_SCHEMES = ['clawhub', 'github', 'local'];

/**
 * Checks an allowlist pin with the grammar installs are parsed with and returns it normalized:
 * an exact origin (`github://acme/lint`, `local://<name>`, `clawhub://<name>`) or a GitHub owner
 * prefix (`github://acme/*`). A pin carrying a ref or version is refused rather than widened; a
 * pin no source could ever match (a typo would silently block the plugin) is refused too.
 */
export function parseOriginPattern(pin: string): string {
  const bad = (why: string, details: Record<string, unknown> = {}) => new InvalidSource(`invalid allowlist source ${messageQuote(pin)}: ${why}`, details);
  if (/[#@]/.test(pin.slice(pin.indexOf('://') + 1))) throw bad('pin an origin, without #ref or @version');
  const ownerPrefix = pin.endsWith('/*');
  const origin = originOf(ownerPrefix ? pin.slice(0, -2) : pin);
  if (origin.includes('*')) throw bad('"*" may only end an owner prefix (github://<owner>/*)');
  const scheme = origin.slice(0, origin.indexOf('://'));
  const path = origin.slice(scheme.length + 3);
  if (!ORIGIN_SCHEMES.includes(scheme)) throw bad(`unknown source scheme ${messageQuote(scheme)}`, { available_schemes: ORIGIN_SCHEMES });
  if (ownerPrefix) {
    if (scheme !== 'github' || !githubRepo(`${path}/x`)) throw bad('an owner prefix is github://<owner>/*');
    return `${origin}/*`;
  }
  if (scheme === 'github') {
    if (!githubRepo(path)) throw bad('expected github://owner/repo');
    return origin;
  }
  if (!PLUGIN_NAME_RE.test(path)) throw bad(`expected ${scheme}://<plugin name>`);
  return origin;
}
