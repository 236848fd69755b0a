/**
 * The curated registry (`local://<name>`): per plugin, under the registry prefix,
 * `<name>/plugin.tar.gz` (the normalized archive) and `<name>/manifest.json` (its manifest,
 * with the resolved name and the content hash). Fetching and listing live here; publishing, which
 * stages a plugin directory first, is lambdas/staging/publish-registry.ts.
 */
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import * as z from '../../shared/zod.js';
import { FetchFailed, SourceNotFound } from '../../shared/errors.js';
import { ContentHash, PluginName } from '../../shared/types.js';
import { Manifest } from '@molecule/plugins-sdk/contract/manifest-schema';
import { isPluginName, parsePluginName } from '../names.js';
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
