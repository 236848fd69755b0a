import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { Runtime } from '../runtime.js';
import type { ApiDeps } from '../api/context.js';
import { authenticate } from '../api/auth.js';
import type { RegistryReader, SourceCatalog } from '../use-cases/ports.js';
import { postgresPorts } from '../use-cases/adapters/postgres.js';
import { runCleanupOnDb } from './on-db.js';
import { s3KeptTarballStore } from '../use-cases/adapters/s3-revisions.js';
import { sfnStarter } from '../use-cases/adapters/sfn.js';
import { presignGet } from '../staging/presign.js';
import { reusingStager } from '../staging/download-cache.js';
import { createResolvers, validateSource, type Resolvers } from '../plugins/source.js';
import { listRegistry } from '../plugins/resolvers/local.js';
import { logger } from '../shared/logger.js';

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

/** The curated registry's listing, read from S3 at most every 30 s (a failed read is not kept). */
function cachedRegistry(s3: S3Client, bucket: string, prefix: string): RegistryReader {
  let registry: { at: number; entries: ReturnType<typeof listRegistry> } | undefined;
  return {
    list: async () => {
      if (!registry || Date.now() - registry.at > REGISTRY_CACHE_MS) {
        registry = { at: Date.now(), entries: listRegistry(s3, bucket, prefix) };
        registry.entries.catch(() => (registry = undefined));
      }
      return (await registry.entries).map((e) => ({
        name: e.name,
        version: e.version ?? null,
        description: e.description ?? null,
        author: e.author ?? null,
        tags: e.tags,
        skills: e.skills,
        runtimes: e.runtimes,
      }));
    },
  };
}

export function buildApiDeps(rt: Runtime, clients: { s3: S3Client; sfn: SFNClient }): ApiDeps {
  const { db, config } = rt;
  const { s3 } = clients;
  const resolvers = createResolvers({ s3, config });
  const workflow = sfnStarter(clients.sfn, config.stateMachineArn);
  return {
    config,
    ports: {
      ...postgresPorts(db, workflow),
      sources: sourceCatalog(resolvers),
      registry: cachedRegistry(s3, config.registryBucket, config.registryPrefix),
      stager: {
        stage: reusingStager(
          async (source) => {
            // Only a pull download stages in the API: the validator, the YAML parser and tar load with its first one.
            const { stagePlugin } = await import('../staging/stage-plugin.js');
            return (await stagePlugin({ s3, resolvers, config }, { source, expectedSha256: null, id: `download-${randomUUID()}` })).staged;
          },
          { s3, bucket: config.stagingBucket },
        ),
        presign: (staged) => presignGet(s3, staged.bucket, staged.key, config.presignTtlSeconds),
      },
    },
    authenticate: (authorization) => authenticate(db, config.adminToken, authorization),
    runCleanup: () =>
      runCleanupOnDb({
        db,
        workflow,
        log: logger,
        batch: config.cleanupBatch,
        tarballs: s3KeptTarballStore(s3, config.stagingBucket),
        driftSweep: config.driftSweep,
      }),
  };
}
