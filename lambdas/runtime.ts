import { loadConfig, type Config } from './shared/config.js';
import { createSecretsClient, type AwsClientOptions } from './shared/aws.js';
import { PlatformUnavailable } from './shared/errors.js';
import { createDb, type Db } from './store/db.js';
import { databaseUrlFromSecret } from './store/connection.js';
import { schemaGate } from './store/schema-version.js';
import { logger } from './shared/logger.js';
import { awsErrorName } from './shared/aws-faults.js';

/**
 * What every Lambda shares, built once per container (and once per local process):
 * configuration from the environment (secrets resolved), a small database pool, and the
 * options each handler makes its own AWS clients with.
 */
export interface Runtime {
  config: Config;
  db: Db;
  aws: AwsClientOptions;
}

let cached: Promise<Runtime> | undefined;
let schemaReady = schemaGate(logger);

export function getRuntime(): Promise<Runtime> {
  cached ??= buildRuntime().catch((err) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

/**
 * The Runtime for a function that serves requests (the API, the steps, cleanup, reconcile): only
 * once the database has every migration the code needs (store/schema-version.ts), else 503
 * platform_unavailable naming the missing migration. The migration function uses `getRuntime`.
 */
export async function getServingRuntime(): Promise<Runtime> {
  const rt = await getRuntime();
  await schemaReady(rt.db);
  return rt;
}

/** Lets the local stack and tests drop the cached runtime after changing the environment. */
export async function resetRuntime(): Promise<void> {
  const previous = cached;
  cached = undefined;
  schemaReady = schemaGate(logger);
  if (previous) await (await previous.catch(() => undefined))?.db.end();
}

async function buildRuntime(): Promise<Runtime> {
  const loaded = loadConfig();
  const aws = { region: loaded.region, httpTimeoutMs: loaded.awsHttpTimeoutMs, s3PathStyle: loaded.s3PathStyle };
  // On AWS the secrets live in Secrets Manager; plain variables win where both are set (local stack).
  const secret = secretReader(aws);
  const config = {
    ...loaded,
    adminToken: loaded.adminToken ?? (loaded.adminTokenSecretArn ? await secret(loaded.adminTokenSecretArn) : undefined),
    githubToken: loaded.githubToken ?? (loaded.githubTokenSecretArn ? await secret(loaded.githubTokenSecretArn) : undefined),
  };
  // The secret may be an RDS-managed master secret (username and password only): see store/connection.ts.
  const url =
    config.databaseUrl ?? (config.databaseSecretArn ? databaseUrlFromSecret(await secret(config.databaseSecretArn), config.databaseConnection) : undefined);
  if (!url) throw new PlatformUnavailable('DATABASE_URL or DATABASE_SECRET_ARN must be set');
  return { config, aws, db: createDb({ connectionString: url, max: config.databasePoolMax }) };
}

/**
 * A function cannot serve without its secrets: whatever Secrets Manager answers instead (throttling,
 * a fault, a missing secret or key, a denied role) is 503 platform_unavailable, which the workflow
 * retries; the log and `awsError` name it, the message never carries its text.
 */
function secretReader(aws: AwsClientOptions): (arn: string) => Promise<string> {
  return async (arn) => {
    const { GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    const secret = await (await createSecretsClient(aws)).send(new GetSecretValueCommand({ SecretId: arn })).catch((err: unknown) => {
      logger.error('could not read a secret from Secrets Manager', { secretArn: arn, awsError: awsErrorName(err), error: (err as Error).message });
      throw new PlatformUnavailable('a secret the service needs could not be read from Secrets Manager', { awsError: awsErrorName(err) }, { cause: err });
    });
    if (!secret.SecretString) {
      logger.error('a secret has no string value', { secretArn: arn });
      throw new PlatformUnavailable('a secret the service needs has no string value');
    }
    return secret.SecretString;
  };
}
