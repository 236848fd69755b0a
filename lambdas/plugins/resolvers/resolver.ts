import type { Readable } from 'node:stream';
import type { PluginName } from '../../shared/types.js';

/** What a source yields: the archive bytes and how to read them. */
export interface FetchedArchive {
  /** tar.gz bytes; read errors are already the documented errors (fetch_failed, fetch_timeout) */
  body: Readable;
  /** the archive wraps the plugin in one top-level directory (GitHub tarballs) */
  stripTopLevel: boolean;
  /** the plugin's name unless its `plugin.yaml` names it */
  fallbackName: string;
}

/** One per source scheme (SPEC §2). */
export interface Resolver {
  /** The synchronous checks the API runs before it starts a workflow; throws the documented error. */
  validate(spec: string): { expectedName?: PluginName };
  /** Starts fetching; the whole fetch, body included, is bounded by the fetch timeout. */
  fetch(spec: string, opts: { signal?: AbortSignal }): Promise<FetchedArchive>;
}
