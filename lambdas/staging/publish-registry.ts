/**
 * Publishing a plugin directory to the curated registry (`local://`): staged like any fetched
 * plugin, then written in the registry's layout (plugins/resolvers/local.ts reads it).
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { loadConfig } from '../shared/config.js';
import type { PackEntry } from '../plugins/pack.js';
import { archiveKey, manifestKey, type RegistryEntry } from '../plugins/resolvers/local.js';
import type { ArchiveLimits } from './stage-archive.js';

const s3Commands = () => import('@aws-sdk/client-s3');

export interface PublishOptions {
  /** default: the configured install limits */
  limits?: ArchiveLimits;
  tmpDir?: string;
}

export interface PublishResult {
  entry: RegistryEntry;
  /** links and special files in the directory, which a plugin cannot carry */
  warnings: string[];
}

/**
 * Publishes a plugin directory to the registry (the local stack seeds `./plugins/` this way).
 * The directory goes through the same staging as any fetched plugin, so the registry only
 * ever holds archives that passed validation, in normalized form.
 */
export async function publishToRegistry(s3: S3Client, bucket: string, prefix: string, pluginDir: string, opts: PublishOptions = {}): Promise<PublishResult> {
  const { entries, skipped } = await walkPluginDir(pluginDir);
  // Publishing is the local stack's and the scripts' path; the API that lists the registry does not load the staging code.
  const [{ packNormalized }, { stageArchive }] = await Promise.all([import('../plugins/pack.js'), import('./stage-archive.js')]);
  const staged = await stageArchive(
    packNormalized(entries),
    async (normalized, { name, contentLength }) => {
      await s3.send(
        new (await s3Commands()).PutObjectCommand({
          Bucket: bucket,
          Key: archiveKey(prefix, name),
          Body: normalized,
          ContentLength: contentLength,
          ContentType: 'application/gzip',
        }),
      );
    },
    { limits: opts.limits ?? loadConfig().limits, stripTopLevel: false, fallbackName: basename(pluginDir), tmpDir: opts.tmpDir },
  );
  const entry: RegistryEntry = { ...staged.manifest, name: staged.name, sha256: staged.contentHash };
  // Written last: a plugin is listed only once its archive is in place.
  await s3.send(
    new (await s3Commands()).PutObjectCommand({
      Bucket: bucket,
      Key: manifestKey(prefix, staged.name),
      Body: JSON.stringify(entry),
      ContentType: 'application/json',
    }),
  );
  return { entry, warnings: [...skipped, ...staged.warnings] };
}

async function walkPluginDir(root: string): Promise<{ entries: PackEntry[]; skipped: string[] }> {
  const entries: PackEntry[] = [];
  const skipped: string[] = [];
  for (const dirent of await readdir(root, { recursive: true, withFileTypes: true })) {
    const full = join(dirent.parentPath, dirent.name);
    const path = relative(root, full).split(sep).join('/');
    if (dirent.isDirectory()) entries.push({ type: 'directory', path });
    else if (dirent.isFile()) {
      const { size, mode } = await stat(full);
      entries.push({ type: 'file', path, size, executable: (mode & 0o111) !== 0, content: () => createReadStream(full) });
    } else skipped.push(`skipped ${JSON.stringify(path)}: not a regular file or directory`);
  }
  return { entries, skipped };
}
