import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { Runtime } from './runtime.js';
import type { ApiDeps, SourceCatalog } from './api/context.js';
import { runCleanup } from './workflow/cleanup.js';
import { stagePlugin } from './staging/stage-plugin.js';
import { presignGet } from './staging/presign.js';
import { sfnStarter } from './workflow/sfn-starter.js';
import { createResolvers, validateSource, type Resolvers } from './plugins/source.js';
import { listRegistry } from './plugins/resolvers/local.js';
import { logger } from './shared/logger.js';

/** Wires the API to a Runtime and its clients: everything `createApi` needs. */

/** The API's view of the resolvers: scheme list and synchronous checks. */
export function sourceCatalog(resolvers: Resolvers): SourceCatalog {
  return {
    schemes: () => resolvers.schemes(),
    validate: (raw) => {
      const { source, expectedName } = validateSource(resolvers, raw);
      return { raw: source.raw, canonical: `${source.scheme}://${source.spec}`, scheme: source.scheme, ...(expectedName ? { expectedName } : {}) };
    },
  };
}

const REGISTRY_CACHE_MS = 30_000;

export function buildApiDeps(rt: Runtime, clients: { s3: S3Client; sfn: SFNClient }): ApiDeps {
  const { db, config } = rt;
  const { s3 } = clients;
  const resolvers = createResolvers({ s3, config });
  const workflow = sfnStarter(clients.sfn, config.stateMachineArn);
  let registry: { at: number; entries: ReturnType<typeof listRegistry> } | undefined;
  return {
    db,
    config,
    s3,
    workflow,
    sources: sourceCatalog(resolvers),
    registry: {
      list: async () => {
        if (!registry || Date.now() - registry.at > REGISTRY_CACHE_MS) {
          registry = { at: Date.now(), entries: listRegistry(s3, config.registryBucket, config.registryPrefix) };
          registry.entries.catch(() => (registry = undefined));
        }
        return (await registry.entries).map((e) => ({
          name: e.name, version: e.version ?? null, description: e.description ?? null, author: e.author ?? null,
          tags: e.tags, skills: e.skills, runtimes: e.runtimes,
        }));
      },
    },
    stage: async (source) => (await stagePlugin({ s3, resolvers, config }, { source, expectedSha256: null, id: `download-${randomUUID()}` })).staged,
    presign: (bucket, key, ttl) => presignGet(s3, bucket, key, ttl),
    runCleanup: () => runCleanup({ db, workflow, log: logger, batch: config.cleanupBatch }),
  };
}
