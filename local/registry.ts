import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { DeleteObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { publishToRegistry, type PublishOptions } from '../lambdas/staging/publish-registry.js';
import type { Log } from '../lambdas/shared/logger.js';

/**
 * Seeds the local registry with exactly the given plugin directories (`./plugins/*`, then those
 * under `$MOLECULE_REGISTRY_DIR`): what an earlier start published is cleared first. A plugin that
 * fails validation is skipped with its directory and reason logged; the rest still start. A later
 * directory with a name already published replaces it, with a warning.
 */
export async function seedRegistry(
  s3: S3Client,
  target: { bucket: string; prefix: string },
  dirs: readonly string[],
  opts: PublishOptions & { log: Log },
): Promise<{ published: string[]; skipped: string[] }> {
  await clearPrefix(s3, target.bucket, target.prefix);
  const publishedFrom = new Map<string, string>();
  const skipped: string[] = [];
  for (const dir of dirs) {
    try {
      const { entry, warnings } = await publishToRegistry(s3, target.bucket, target.prefix, dir, opts);
      const earlier = publishedFrom.get(entry.name);
      if (earlier) opts.log.warn('registry plugin replaced by a later directory', { plugin: entry.name, dir, replaced: earlier });
      publishedFrom.set(entry.name, dir);
      opts.log.info('registry plugin published', { plugin: entry.name, version: entry.version, dir, warnings });
    } catch (err) {
      skipped.push(basename(dir));
      opts.log.warn('registry plugin skipped: it does not pass staging', { dir, reason: (err as Error).message });
    }
  }
  return { published: [...publishedFrom.keys()].sort(), skipped };
}

async function clearPrefix(s3: S3Client, bucket: string, prefix: string): Promise<void> {
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000, ContinuationToken: token }));
    for (const object of page.Contents ?? []) if (object.Key) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** `./plugins/*` plus every plugin directory under `$MOLECULE_REGISTRY_DIR`. */
export function registryDirectories(repoPlugins: string, extra: string | undefined): string[] {
  const dirsIn = (root: string) =>
    existsSync(root)
      ? readdirSync(root)
          .filter((name) => !name.startsWith('.')) // .git and the like are not plugins
          .map((name) => join(root, name))
          .filter((path) => statSync(path).isDirectory())
          .sort()
      : [];
  return [...dirsIn(repoPlugins), ...(extra ? dirsIn(resolve(extra)) : [])];
}
