import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../shared/config.js';
import type { RevisionFile, StagedPlugin } from '../shared/types.js';
import { parseSource, type Resolvers } from '../plugins/source.js';
import type { FetchedArchive } from '../plugins/resolvers/resolver.js';
import { FetchFailed, FetchTimeout } from '../shared/errors.js';
import { asOwnError } from '../shared/aws-faults.js';
import { type SignedContent, stageArchive } from './stage-archive.js';

export interface StagePluginDeps {
  s3: S3Client;
  resolvers: Resolvers;
  config: Pick<Config, 'stagingBucket' | 'limits'>;
}

/**
 * Fetches a source and streams it, validated and normalized, into the staging bucket under
 * `staged/<id>/<name>.tar.gz`. Used by the Stage step (whose `vet` judges the signature before
 * anything is stored) and by the download route.
 */
export async function stagePlugin(
  deps: StagePluginDeps,
  args: { source: string; expectedSha256: string | null; id: string; fetchDeadline?: Date; vet?: (signed: SignedContent) => Promise<void> },
): Promise<{ staged: StagedPlugin; files: RevisionFile[] }> {
  const source = parseSource(args.source);
  const resolver = deps.resolvers.resolverFor(source);
  const budget = args.fetchDeadline && fetchBudget(args.fetchDeadline, source.raw);
  try {
    return await stageFetched(deps, args, await resolver.fetch(source.spec, { signal: budget?.signal }));
  } finally {
    budget?.release();
  }
}

/**
 * What is left of the operation's fetch time (`PLUGIN_INSTALL_FETCH_TIMEOUT` counted from the
 * request), so retried fetches share one bound rather than each getting a fresh one.
 */
function fetchBudget(deadline: Date, what: string): { signal: AbortSignal; release(): void } {
  const timedOut = () => new FetchTimeout(`fetching ${what} did not finish within the fetch timeout`);
  const remaining = deadline.getTime() - Date.now();
  // A timed-out attempt ends the operation, so earlier attempts that used the time up failed.
  if (remaining <= 0) throw new FetchFailed(`fetching ${what} failed, and the fetch timeout has passed`);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(timedOut()), remaining);
  return { signal: controller.signal, release: () => clearTimeout(timer) };
}

async function stageFetched(
  deps: StagePluginDeps,
  args: { expectedSha256: string | null; id: string; vet?: (signed: SignedContent) => Promise<void> },
  fetched: FetchedArchive,
): Promise<{ staged: StagedPlugin; files: RevisionFile[] }> {
  let key = '';
  const result = await stageArchive(
    fetched.body,
    async (normalized, info) => {
      key = `staged/${args.id}/${info.name}.tar.gz`;
      const { PutObjectCommand } = await import('@aws-sdk/client-s3'); // with the client's chunk, not at module load
      await deps.s3
        .send(
          new PutObjectCommand({
            Bucket: deps.config.stagingBucket,
            Key: key,
            Body: normalized,
            ContentLength: info.contentLength,
            ContentType: 'application/gzip',
            Metadata: { 'plugin-sha256': info.contentHash },
          }),
        )
        .catch((err: unknown) => {
          throw stagingBucketFailure(err);
        });
    },
    {
      limits: deps.config.limits,
      stripTopLevel: fetched.stripTopLevel,
      fallbackName: fetched.fallbackName,
      expectedSha256: args.expectedSha256,
      ...(args.vet ? { vet: args.vet } : {}),
    },
  );
  return {
    staged: {
      bucket: deps.config.stagingBucket,
      key,
      name: result.name,
      version: result.manifest.version ?? null,
      sha256: result.contentHash,
      skills: result.manifest.skills,
      runtimes: result.manifest.runtimes,
      fileCount: result.fileCount,
      bytes: result.totalBytes,
      warnings: result.warnings,
      signed: result.signed,
    },
    files: result.fileList,
  };
}

/**
 * The staging bucket refused the tarball. The SDK does not retry a streamed upload, so S3's
 * transient faults (its `InternalError` 500, `SlowDown` 503, a dropped connection) are the
 * retried PlatformUnavailable; anything else (AccessDenied, NoSuchBucket: the stack's
 * configuration) fails for good as DeliveryFailed. Neither carries S3's text.
 */
function stagingBucketFailure(err: unknown): Error {
  return asOwnError(err, { transient: 'the staging bucket is briefly unavailable', failed: 'the plugin could not be stored in the staging bucket' });
}
