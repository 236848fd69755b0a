import { EntryPathError, entrySegments } from '@molecule/plugins-sdk/contract/archive-path';
import { messageQuote } from '@molecule/plugins-sdk/contract/message-quote';
import { InvalidArchive } from '../shared/errors.js';

/** An entry name's segments (the SDK package's check, which a pull applies too), refused as `invalid_archive`. */
function segmentsOf(name: string): string[] {
  try {
    return entrySegments(name);
  } catch (err) {
    if (err instanceof EntryPathError) throw new InvalidArchive(err.message, { entry: err.entry });
    throw err;
  }
}

/**
 * Where an archive entry lands: its path below the plugin root, or null for the root itself.
 * With `strip`, the archive's single top-level directory (GitHub tarballs) is dropped: `topLevel`
 * is its name (undefined when the first entry named none), and an entry outside it, or a file in
 * its place, is refused. The entry name itself must pass `entrySegments`.
 */
export function pluginPath(name: string, isDirectory: boolean, strip?: { topLevel: string | undefined }): string | null {
  const segments = segmentsOf(name);
  if (strip) {
    const [top, ...rest] = segments;
    if (top === undefined || top !== strip.topLevel || (rest.length === 0 && !isDirectory)) {
      throw new InvalidArchive(`archive entry ${messageQuote(name)} is outside the archive's single top-level directory`);
    }
    return rest.length === 0 ? null : rest.join('/');
  }
  return segments.length === 0 ? null : segments.join('/');
}

/** The top-level directory an entry names (its first segment), which the first entry fixes for the archive. */
export function topLevelOf(name: string): string | undefined {
  return segmentsOf(name)[0];
}
