import type { S3Client } from '@aws-sdk/client-s3';
import type { z } from 'zod';
import type { Config } from '../shared/config.js';
import type { Db } from '../store/db.js';
import type { Log } from '../shared/logger.js';
import type { StagedPlugin } from '../shared/types.js';
import { InvalidRequest } from '../shared/errors.js';
import { describeZodError } from './respond.js';
import type { ApiRequest } from './http.js';
import type { Principal } from './auth.js';
import type { WorkflowStarter } from '../workflow/operations.js';
import type { CleanupSummary } from '../workflow/cleanup.js';

/** What the API needs of the source resolvers: the scheme list and the synchronous checks. */
export interface SourceCatalog {
  schemes(): string[];
  /** Throws InvalidSource, InvalidPluginName or UnpinnedSource; `expectedName` when the source names the plugin. */
  /** `canonical` spells the same source one way (`hello` and `LOCAL://hello` are `local://hello`). */
  validate(raw: string): { raw: string; canonical: string; scheme: string; expectedName?: string };
}

export interface RegistryEntry {
  name: string;
  version: string | null;
  description: string | null;
  author: string | null;
  tags: string[];
  skills: string[];
  runtimes: string[];
}

export interface RegistryReader {
  list(): Promise<RegistryEntry[]>;
}

export interface ApiDeps {
  db: Db;
  config: Config;
  s3: S3Client;
  workflow: WorkflowStarter;
  sources: SourceCatalog;
  registry: RegistryReader;
  /** Stages a source synchronously (the download route) and returns where the tarball is. */
  stage: (source: string, log: Log) => Promise<StagedPlugin>;
  presign: (bucket: string, key: string, ttlSeconds: number) => Promise<string>;
  runCleanup: () => Promise<CleanupSummary>;
  now?: () => Date;
}

export interface Ctx {
  req: ApiRequest;
  deps: ApiDeps;
  log: Log;
  principal: () => Promise<Principal>;
}

/** Parses a JSON body against `schema`: oversize, bad JSON and schema failures are all 400 invalid_request. */
export function parseBody<S extends z.ZodType>(req: ApiRequest, schema: S, maxBytes: number): z.infer<S> {
  const raw = req.body ?? '';
  if (Buffer.byteLength(raw) > maxBytes) throw new InvalidRequest(`request body exceeds ${maxBytes} bytes`);
  let data: unknown;
  try {
    // A UTF-8 byte order mark (some Windows tools write one) is not part of the JSON text.
    const text = raw.replace(/^\uFEFF/, '');
    data = text.trim() === '' ? undefined : JSON.parse(text);
  } catch {
    throw new InvalidRequest('request body is not valid JSON');
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new InvalidRequest('request body must be a JSON object');
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw new InvalidRequest(describeZodError(parsed.error));
  return parsed.data;
}

export function parseQuery<S extends z.ZodType>(req: ApiRequest, schema: S): z.infer<S> {
  const parsed = schema.safeParse(req.query);
  if (!parsed.success) throw new InvalidRequest(describeZodError(parsed.error).replace('request body', 'query'));
  return parsed.data;
}
