import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { FetchFailed, SourceNotFound } from '../../shared/errors.js';
import { guardBody, type Deadline } from './deadline.js';

/**
 * GETs an archive over HTTP(S). 404 is `source_not_found`; any other failure is
 * `fetch_failed` or `fetch_timeout` carrying only the status code, never the upstream's text.
 */
export async function fetchArchive(url: string, what: string, deadline: Deadline, headers: Record<string, string> = {}): Promise<Readable> {
  let response: Response;
  try {
    // The archive is gzip already; a transfer encoding on top would be undone by fetch behind our counters' back.
    response = await fetch(url, { headers: { 'accept-encoding': 'identity', ...headers }, signal: deadline.signal });
  } catch (err) {
    throw deadline.failure(err, what);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    if (response.status === 404) throw new SourceNotFound(`${what} was not found`);
    throw new FetchFailed(`fetching ${what} failed: the server answered HTTP ${response.status}`, { upstreamStatus: response.status });
  }
  return guardBody(Readable.fromWeb(response.body as ReadableStream<Uint8Array>), deadline, what);
}
