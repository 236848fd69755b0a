import type { RevisionFile } from '../shared/types.js';

/** Paths added, removed and changed from one list of a plugin's files to another. */
export interface FileChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

/**
 * Paths added, removed and changed from the files `before` (an active revision's; none when
 * nothing is installed) to the files `now` (staged for a plan, found on the host by a verify);
 * `before` null: the files before are unknown (a plugin installed before revisions were recorded),
 * so every file now counts as changed.
 */
export function fileChanges(now: readonly RevisionFile[], before: readonly RevisionFile[] | null): FileChanges {
  if (before === null) return { added: [], removed: [], changed: now.map((file) => file.path) };
  const was = new Map(before.map((file) => [file.path, file.sha256]));
  const is = new Map(now.map((file) => [file.path, file.sha256]));
  return {
    added: [...is.keys()].filter((path) => !was.has(path)),
    removed: [...was.keys()].filter((path) => !is.has(path)),
    changed: [...is].filter(([path, sha256]) => was.has(path) && was.get(path) !== sha256).map(([path]) => path),
  };
}
