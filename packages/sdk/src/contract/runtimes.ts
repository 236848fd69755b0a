/**
 * Runtime names as people write them (SPEC §5): the SDK's template says `claude_code`, our
 * workspaces say `claude-code`, and both mean one runtime. Comparisons ignore case and `-`/`_`;
 * the names themselves are kept as written (manifests, listings, the database).
 */

/** The form two runtime names are compared in; also a lookup key (e.g. per-runtime config dirs). */
export function runtimeKey(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}

export function sameRuntime(a: string, b: string): boolean {
  return runtimeKey(a) === runtimeKey(b);
}

/** Whether a plugin declaring `runtimes` runs on `runtime`; an empty list means every runtime. */
export function supportsRuntime(runtimes: readonly string[], runtime: string): boolean {
  return runtimes.length === 0 || runtimes.some((declared) => sameRuntime(declared, runtime));
}

/** The runtimes `molecule_plugin validate` knows, plus `hermes`, which SPEC §5 names. */
export const KNOWN_RUNTIMES: readonly string[] = ['autogen', 'claude-code', 'crewai', 'deepagents', 'hermes', 'langgraph', 'openclaw'];

export function isKnownRuntime(name: string): boolean {
  return KNOWN_RUNTIMES.includes(runtimeKey(name));
}
