import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Log } from '../shared/logger.js';
import type { StagedPlugin } from '../shared/types.js';

/** A source staged for `/download` is handed out again for this long instead of being fetched again. */
export const DOWNLOAD_REUSE_MS = 10 * 60_000;
/** A staging that failed after its request was answered 202 answers its retries with that failure for this long. */
const FAILURE_KEPT_MS = 60_000;

export interface DownloadCacheOptions {
  s3: S3Client;
  bucket: string;
  now?: () => number;
  reuseMs?: number;
}

type Entry = { at: number; staged: Promise<StagedPlugin>; settled?: 'ok' | 'failed' };

/**
 * Stages each source once for the download route: a source staged in the last 10 minutes (by this
 * container, or by any, through an index object `staged/by-source/<sha256 of the source>.json`
 * beside the staged tarballs, which expires with them) is handed out again without a fetch, and
 * a request for a source still being staged joins that staging. So a client answered 202 finds
 * its plugin when it comes back, and a thousand agents pulling one plugin cost one fetch.
 * A republished registry plugin or a moved branch is picked up within the reuse window.
 */
export function reusingStager(stage: (source: string, log: Log) => Promise<StagedPlugin>, options: DownloadCacheOptions) {
  const now = options.now ?? Date.now;
  const reuseMs = options.reuseMs ?? DOWNLOAD_REUSE_MS;
  const entries = new Map<string, Entry>();
  const indexKey = (source: string) => `staged/by-source/${createHash('sha256').update(source).digest('hex')}.json`;

  const usable = (entry: Entry | undefined): entry is Entry => {
    if (!entry) return false;
    const age = now() - entry.at;
    return entry.settled === undefined || (entry.settled === 'ok' ? age < reuseMs : age < FAILURE_KEPT_MS);
  };

  async function fromIndex(source: string, log: Log): Promise<StagedPlugin | null> {
    try {
      const { GetObjectCommand } = await import('@aws-sdk/client-s3'); // with the client's chunk, not at module load
      const res = await options.s3.send(new GetObjectCommand({ Bucket: options.bucket, Key: indexKey(source) }));
      const entry = JSON.parse((await res.Body?.transformToString()) ?? '') as { source: string; stagedAt: number; staged: StagedPlugin };
      if (entry.source !== source || now() - entry.stagedAt >= reuseMs) return null;
      return entry.staged;
    } catch (err) {
      // Missing (NoSuchKey, or AccessDenied without ListBucket) or unreadable: stage afresh.
      log.debug('no reusable staged copy', { source, reason: (err as Error).name });
      return null;
    }
  }

  async function stageAndIndex(source: string, log: Log): Promise<StagedPlugin> {
    const found = await fromIndex(source, log);
    if (found) {
      log.info('download reuses a staged copy', { source, key: found.key });
      return found;
    }
    const staged = await stage(source, log);
    const body = JSON.stringify({ source, stagedAt: now(), staged });
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    await options.s3
      .send(new PutObjectCommand({ Bucket: options.bucket, Key: indexKey(source), Body: body, ContentType: 'application/json' }))
      .catch((err: unknown) => log.warn('could not index the staged copy; the next container stages it again', { source, error: (err as Error).message }));
    return staged;
  }

  return (source: string, log: Log): Promise<StagedPlugin> => {
    const current = entries.get(source);
    if (usable(current)) return current.staged;
    const entry: Entry = { at: now(), staged: stageAndIndex(source, log) };
    entry.staged.then(
      () => {
        entry.settled = 'ok';
        entry.at = now();
      },
      () => {
        entry.settled = 'failed';
        entry.at = now();
      },
    );
    entries.set(source, entry);
    for (const [key, old] of entries) if (!usable(old)) entries.delete(key);
    return entry.staged;
  };
}
