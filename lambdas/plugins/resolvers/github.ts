import { InvalidSource, UnpinnedSource } from '../../shared/errors.js';
import { githubRepo } from '../origin.js';
import { messageQuote } from '@molecule/plugins-sdk/contract/message-quote';
import { startDeadline } from './deadline.js';
import { fetchArchive } from './http.js';
import type { Resolver } from './resolver.js';

export interface GithubResolverDeps {
  /** `GITHUB_CODELOAD_URL`, no trailing slash */
  codeloadUrl: string;
  /** for private repositories */
  token?: string | undefined;
  allowUnpinned: boolean;
  fetchTimeoutMs: number;
}

export interface GithubSpec {
  owner: string;
  repo: string;
  ref: string;
}

// A branch, tag or commit; `/` allowed (feature/x), never a leading `-` (option injection further down).
const REF_RE = /^[A-Za-z0-9._+@/][A-Za-z0-9._+@/-]{0,254}$/;
/** What codeload serves for an unpinned source when `PLUGIN_ALLOW_UNPINNED=true`. */
const DEFAULT_REF = 'HEAD';

/** `owner/repo#ref` → its parts, or the documented rejection. */
export function parseGithubSpec(spec: string, allowUnpinned: boolean): GithubSpec {
  const hash = spec.indexOf('#');
  const repoPart = hash === -1 ? spec : spec.slice(0, hash);
  const named = githubRepo(repoPart);
  if (!named) throw new InvalidSource(`invalid github source ${messageQuote(spec)}: expected github://owner/repo#ref`);
  const { owner, repo } = named;
  if (hash === -1) {
    if (!allowUnpinned) {
      throw new UnpinnedSource(`github source ${messageQuote(spec)} is not pinned: use github://${owner}/${repo}#<tag or commit>`);
    }
    return { owner, repo, ref: DEFAULT_REF };
  }
  const ref = spec.slice(hash + 1);
  if (ref.startsWith('-')) throw new InvalidSource(`invalid github ref ${messageQuote(ref)}: must not start with "-"`);
  if (!REF_RE.test(ref) || ref.includes('..') || ref.includes('//') || ref.endsWith('/') || ref.endsWith('.lock')) {
    throw new InvalidSource(`invalid github ref ${messageQuote(ref)}`);
  }
  return { owner, repo, ref };
}

/** `github://owner/repo#ref`: the codeload tarball, whose single top-level directory is stripped. */
export function githubResolver(deps: GithubResolverDeps): Resolver {
  return {
    validate(spec) {
      parseGithubSpec(spec, deps.allowUnpinned);
      return {};
    },
    async fetch(spec, { signal }) {
      const { owner, repo, ref } = parseGithubSpec(spec, deps.allowUnpinned);
      const path = [owner, repo, 'tar.gz', ...ref.split('/')].map(encodeURIComponent).join('/');
      const headers: Record<string, string> = { 'user-agent': 'molecule-plugin-delivery' };
      if (deps.token) headers.authorization = `Bearer ${deps.token}`;
      const what = `github://${owner}/${repo}#${ref}`;
      const body = await fetchArchive(`${deps.codeloadUrl}/${path}`, what, startDeadline(deps.fetchTimeoutMs, signal), headers);
      // GitHub names are case-insensitive, plugin names are lower case.
      return { body, stripTopLevel: true, fallbackName: repo.toLowerCase() };
    },
  };
}
