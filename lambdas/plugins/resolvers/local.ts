/**
 * The curated registry (`local://<name>`): per plugin, under the registry prefix,
 * `<name>/plugin.tar.gz` (the normalized archive) and `<name>/manifest.json` (its manifest,
 * with the resolved name and the content hash). Fetching, publishing and listing live here
 * together because they share that layout.
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import * as z from '../../shared/zod.js';
import { loadConfig } from '../../shared/config.js';
import { FetchFailed, SourceNotFound } from '../../shared/errors.js';
import { ContentHash, PluginName } from '../../shared/types.js';
import { Manifest } from '../manifest-schema.js';
import { isPluginName, parsePluginName } from '../names.js';
import type { PackEntry } from '../pack.js';
import type { ArchiveLimits } from '../stage.js';
import { guardBody, startDeadline } from './deadline.js';
import type { Resolver } from './resolver.js';

/** The S3 commands load with the client (shared/aws.ts): a Lambda bundle keeps them in its chunk. */
const s3Commands = () => import('@aws-sdk/client-s3');

export interface LocalResolverDeps {
  s3: S3Client;
  bucket: string;
  prefix: string;
  fetchTimeoutMs: number;
}

export const archiveKey = (prefix: string, name: string) => `${prefix}${name}/plugin.tar.gz`;
export const manifestKey = (prefix: string, name: string) => `${prefix}${name}/manifest.json`;

/** A registry listing row: the manifest, with the name and content hash always present. */
export const RegistryEntry = z.extend(Manifest, { name: PluginName, sha256: ContentHash });
export type RegistryEntry = z.infer<typeof RegistryEntry>;

export function localResolver(deps: LocalResolverDeps): Resolver {
  return {
    validate(spec) {
      return { expectedName: parsePluginName(spec) };
    },
    async fetch(spec, { signal }) {
      const name = parsePluginName(spec);
      const what = `local://${name}`;
      const deadline = startDeadline(deps.fetchTimeoutMs, signal);
      let body: Readable;
      try {
        const object = await deps.s3.send(new (await s3Commands()).GetObjectCommand({ Bucket: deps.bucket, Key: archiveKey(deps.prefix, name) }), {
          abortSignal: deadline.signal,
        });
        if (!object.Body) throw new FetchFailed(`fetching ${what} failed: the registry object has no body`);
        body = object.Body as Readable;
      } catch (err) {
        if (isNotFound(err)) throw new SourceNotFound(`plugin "${name}" is not in the registry`);
        throw deadline.failure(err, what);
      }
      return { body: guardBody(body, deadline, what), stripTopLevel: false, fallbackName: name };
    },
  };
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

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
  const [{ packNormalized }, { stageArchive }] = await Promise.all([import('../pack.js'), import('../stage.js')]);
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

/** Manifests are small; a few at a time keeps the listing quick without a burst of requests. */
const MANIFEST_READS_IN_PARALLEL = 8;
/** Upper bound on what one listing reads. */
const MAX_LISTED_PLUGINS = 10_000;

/** Every published plugin's registry entry, sorted by name. */
export async function listRegistry(s3: S3Client, bucket: string, prefix: string): Promise<RegistryEntry[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new (await s3Commands()).ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000, ContinuationToken: token }));
    for (const { Key } of page.Contents ?? []) {
      const name = Key?.slice(prefix.length).match(/^([^/]+)\/manifest\.json$/)?.[1];
      if (name && isPluginName(name)) names.push(name);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token && names.length < MAX_LISTED_PLUGINS);

  const listed = names.sort().slice(0, MAX_LISTED_PLUGINS);
  const entries: RegistryEntry[] = [];
  for (let i = 0; i < listed.length; i += MANIFEST_READS_IN_PARALLEL) {
    const batch = listed.slice(i, i + MANIFEST_READS_IN_PARALLEL);
    for (const entry of await Promise.all(batch.map((name) => readRegistryEntry(s3, bucket, prefix, name)))) {
      if (entry) entries.push(entry);
    }
  }
  return entries;
}

/**
 * One bad object must not break the listing: a manifest that is invalid, or was deleted since
 * the listing, is left out. S3 failures still fail the listing.
 */
async function readRegistryEntry(s3: S3Client, bucket: string, prefix: string, name: string): Promise<RegistryEntry | undefined> {
  let text: string | undefined;
  try {
    const object = await s3.send(new (await s3Commands()).GetObjectCommand({ Bucket: bucket, Key: manifestKey(prefix, name) }));
    text = await object.Body?.transformToString();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  try {
    const parsed = RegistryEntry.safeParse(JSON.parse(text ?? ''));
    return parsed.success && parsed.data.name === name ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
