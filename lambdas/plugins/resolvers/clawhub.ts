import { InvalidSource, UnpinnedSource } from '../../shared/errors.js';
import { PLUGIN_NAME_RE } from '../../shared/types.js';
import { parsePluginName } from '../names.js';
import { messageQuote } from '@molecule/plugins-sdk/contract/message-quote';
import { startDeadline } from './deadline.js';
import { fetchArchive } from './http.js';
import type { Resolver } from './resolver.js';

export interface ClawhubResolverDeps {
  /** `CLAWHUB_BASE_URL`, no trailing slash */
  baseUrl: string;
  fetchTimeoutMs: number;
}

const VERSION_RE = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,127}$/;

/** `name@version` → its parts, or the documented rejection. */
export function parseClawhubSpec(spec: string): { name: string; version: string } {
  const at = spec.lastIndexOf('@');
  if (at === -1) {
    if (PLUGIN_NAME_RE.test(spec)) throw new UnpinnedSource(`clawhub source ${messageQuote(spec)} is not pinned: use clawhub://${spec}@<version>`);
    throw new InvalidSource(`invalid clawhub source ${messageQuote(spec)}: expected clawhub://name@version`);
  }
  const name = parsePluginName(spec.slice(0, at));
  const version = spec.slice(at + 1);
  if (!VERSION_RE.test(version)) throw new InvalidSource(`invalid clawhub version ${messageQuote(version)}`);
  return { name, version };
}

/** `clawhub://name@version`, registered only when `CLAWHUB_BASE_URL` is set. */
export function clawhubResolver(deps: ClawhubResolverDeps): Resolver {
  return {
    validate(spec) {
      parseClawhubSpec(spec);
      return {};
    },
    async fetch(spec, { signal }) {
      const { name, version } = parseClawhubSpec(spec);
      const url = `${deps.baseUrl}/plugins/${encodeURIComponent(name)}/${encodeURIComponent(version)}.tar.gz`;
      const body = await fetchArchive(url, `clawhub://${name}@${version}`, startDeadline(deps.fetchTimeoutMs, signal));
      return { body, stripTopLevel: false, fallbackName: name };
    },
  };
}
