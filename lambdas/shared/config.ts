import * as z from './zod.js';
import { runtimeKey } from './runtimes.js';

/** Parses `500ms`, `30s`, `5m`, `1h` (or a bare number of seconds) into milliseconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!match) throw new Error(`invalid duration "${text}" (use e.g. 30s, 5m, 1h)`);
  const value = Number(match[1]);
  const unit = match[2] ?? 's';
  const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
  return Math.round(value * factor);
}

const bool = z.pipe(
  z.optional(z.enum(['true', 'false', '1', '0', ''])),
  z.transform((v) => v === 'true' || v === '1'),
);
const int = (fallback: number) => z._default(z.coerce.number().check(z.int(), z.positive()), fallback);
const duration = (fallback: string) =>
  z.pipe(
    z._default(z.string(), fallback),
    z.transform((v: string, ctx) => {
      try {
        return parseDuration(v);
      } catch (err) {
        ctx.issues.push({ code: 'custom', message: (err as Error).message, input: v });
        return z.NEVER;
      }
    }),
  );
/** A string with a default. */
const text = (fallback: string) => z._default(z.string(), fallback);
/** A duration that must also pass `ok`. */
const durationWhere = (fallback: string, ok: (ms: number) => boolean, message: string) => duration(fallback).check(z.refine(ok, message));

const MiB = 1024 * 1024;

/** A comma-separated list, each item trimmed and matching `re`; unset: empty. */
const commaList = (re: RegExp, message: string) =>
  z.pipe(
    z.pipe(
      z.optional(z.string()),
      z.transform((v) =>
        (v ?? '')
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean),
      ),
    ),
    z.array(z.string().check(z.regex(re, message))),
  );

/** A variable that is plain text, unset by default. */
const optionalText = z.optional(z.string());

const EnvSchema = z.object({
  DATABASE_URL: optionalText,
  DATABASE_SECRET_ARN: optionalText,
  DATABASE_HOST: optionalText,
  DATABASE_PORT: optionalText,
  DATABASE_NAME: optionalText,
  DATABASE_PROXY_ENDPOINT: optionalText,
  DATABASE_CA_FILE: optionalText,
  DATABASE_POOL_MAX: int(4),
  ADMIN_TOKEN: z.optional(z.string().check(z.minLength(1))),
  ADMIN_TOKEN_SECRET_ARN: optionalText,
  AWS_REGION: text('us-east-1'),
  STAGING_BUCKET: text('molecule-plugin-staging'),
  REGISTRY_BUCKET: optionalText,
  REGISTRY_PREFIX: text('registry/'),
  STATE_MACHINE_ARN: optionalText,
  PLUGIN_INSTALL_MAX_DIR_BYTES: int(100 * MiB),
  PLUGIN_INSTALL_MAX_FILES: int(10_000),
  PLUGIN_INSTALL_MAX_ARCHIVE_BYTES: int(100 * MiB),
  PLUGIN_INSTALL_BODY_MAX_BYTES: int(64 * 1024),
  PLUGIN_INSTALL_FETCH_TIMEOUT: duration('5m'),
  PLUGIN_ALLOW_UNPINNED: bool,
  PLUGIN_MAX_OPERATIONS_PER_ORG: int(50),
  PLUGIN_DOWNLOAD_BUDGET: durationWhere('25s', (ms) => ms > 0 && ms < 30_000, 'must be under API Gateway’s 30 s'),
  PLUGIN_EIC_ACCEPT_ANY_HOST_KEY: bool,
  PLUGIN_PRESIGN_TTL: duration('300s'),
  PLUGIN_DELIVERY_TIMEOUT: duration('5m'),
  PLUGIN_SSM_POLL_INTERVAL: duration('1s'),
  PLUGIN_SSM_DOCUMENT: z._default(z.string().check(z.minLength(1)), 'AWS-RunShellScript'),
  PLUGIN_LEASE_TTL: duration('15m'),
  PLUGIN_RESTART_COMMAND: text('docker restart ws-{workspaceId}'),
  PLUGIN_CONFIG_DIRS: optionalText,
  PLUGIN_CLEANUP_BATCH: int(50),
  PLUGIN_CLEANUP_INTERVAL: durationWhere('15m', (ms) => ms > 0, 'must be longer than 0'),
  PLUGIN_EIC_OS_USER: z._default(z.string().check(z.regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Linux user name')), 'ubuntu'),
  PLUGIN_EIC_SSH_PORT: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(65_535)), 22),
  PLUGIN_EIC_SSH_HOST: z.optional(z.string().check(z.minLength(1))),
  PLUGIN_EIC_SSH_COMMAND: z._default(z.string().check(z.trim(), z.minLength(1)), 'sudo -n bash -s'),
  PLUGIN_EIC_HOST_KEY_FINGERPRINTS: commaList(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'must be SHA256:<base64> fingerprints, comma-separated'),
  PLUGIN_EIC_CONNECTION: z._default(z.enum(['direct', 'endpoint', 'auto']), 'auto'),
  PLUGIN_EIC_TUNNELS_PER_ENDPOINT: int(20),
  PLUGIN_EIC_TUNNEL_URL: z.optional(z.string().check(z.regex(/^wss?:\/\/[^/?#]+\/?$/, 'must be ws://host:port or wss://host'))),
  PLUGIN_EIC_ENDPOINT_IDS: commaList(/^eice-[0-9a-f]{8,17}$/, 'must be eice-... ids, comma-separated'),
  GITHUB_CODELOAD_URL: z._default(z.url(), 'https://codeload.github.com'),
  GITHUB_TOKEN: optionalText,
  GITHUB_TOKEN_SECRET_ARN: optionalText,
  CLAWHUB_BASE_URL: z.optional(z.url()),
  AWS_HTTP_TIMEOUT: duration('30s'),
  AWS_ENDPOINT_URL: optionalText,
  AWS_ENDPOINT_URL_S3: optionalText,
  PLUGIN_RECONCILE_AFTER: duration('20s'),
  PLUGIN_RECONCILE_INTERVAL: durationWhere('10s', (ms) => ms > 0, 'must be longer than 0'),
  PLUGIN_RECONCILE_BATCH: int(50),
});

export type Config = ReturnType<typeof loadConfig>;

const DEFAULT_CONFIG_DIRS: Record<string, string> = {
  'claude-code': '/configs',
  hermes: '/home/ubuntu/.hermes',
  langgraph: '/opt/configs',
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  // Keyed by runtimeKey on both sides, so `claude_code` finds claude-code's directory (SPEC §5).
  const configDirs = keyedByRuntime({ ...DEFAULT_CONFIG_DIRS, ...keyedByRuntime(parseConfigDirs(e.PLUGIN_CONFIG_DIRS)) });
  return {
    databaseUrl: e.DATABASE_URL,
    databaseSecretArn: e.DATABASE_SECRET_ARN,
    /** What an RDS-managed secret lacks (store/connection.ts); empty values count as unset. */
    databaseConnection: {
      host: e.DATABASE_HOST || undefined,
      port: e.DATABASE_PORT || undefined,
      database: e.DATABASE_NAME || undefined,
      proxyEndpoint: e.DATABASE_PROXY_ENDPOINT || undefined,
      caFile: e.DATABASE_CA_FILE || undefined,
    },
    databasePoolMax: e.DATABASE_POOL_MAX,
    adminToken: e.ADMIN_TOKEN,
    adminTokenSecretArn: e.ADMIN_TOKEN_SECRET_ARN,
    region: e.AWS_REGION,
    stagingBucket: e.STAGING_BUCKET,
    registryBucket: e.REGISTRY_BUCKET ?? e.STAGING_BUCKET,
    registryPrefix: e.REGISTRY_PREFIX,
    stateMachineArn: e.STATE_MACHINE_ARN,
    limits: {
      maxDirBytes: e.PLUGIN_INSTALL_MAX_DIR_BYTES,
      maxFiles: e.PLUGIN_INSTALL_MAX_FILES,
      maxArchiveBytes: e.PLUGIN_INSTALL_MAX_ARCHIVE_BYTES,
      maxBodyBytes: e.PLUGIN_INSTALL_BODY_MAX_BYTES,
      fetchTimeoutMs: e.PLUGIN_INSTALL_FETCH_TIMEOUT,
      /** Install and uninstall operations one org may have RUNNING at once (429 too_many_operations past it). */
      maxOperationsPerOrg: e.PLUGIN_MAX_OPERATIONS_PER_ORG,
      /** How long `/download` stages synchronously before answering 202 (API Gateway gives up at 30 s). */
      downloadBudgetMs: e.PLUGIN_DOWNLOAD_BUDGET,
    },
    allowUnpinned: e.PLUGIN_ALLOW_UNPINNED,
    presignTtlSeconds: Math.min(300, Math.round(e.PLUGIN_PRESIGN_TTL / 1000)),
    deliveryTimeoutMs: e.PLUGIN_DELIVERY_TIMEOUT,
    ssmPollIntervalMs: e.PLUGIN_SSM_POLL_INTERVAL,
    ssmDocumentName: e.PLUGIN_SSM_DOCUMENT,
    leaseTtlMs: e.PLUGIN_LEASE_TTL,
    restartCommand: e.PLUGIN_RESTART_COMMAND,
    cleanupBatch: e.PLUGIN_CLEANUP_BATCH,
    cleanupIntervalMs: e.PLUGIN_CLEANUP_INTERVAL,
    eic: {
      osUser: e.PLUGIN_EIC_OS_USER,
      sshPort: e.PLUGIN_EIC_SSH_PORT,
      sshHost: e.PLUGIN_EIC_SSH_HOST,
      sshCommand: e.PLUGIN_EIC_SSH_COMMAND,
      hostKeyFingerprints: e.PLUGIN_EIC_HOST_KEY_FINGERPRINTS,
      /** Without pinned fingerprints EIC delivery refuses every host key unless this is set (the local stack pins its emulator's). */
      acceptAnyHostKey: e.PLUGIN_EIC_ACCEPT_ANY_HOST_KEY,
      /** Through an EC2 Instance Connect Endpoint tunnel, SSH to the private IP, or the endpoint when the VPC has one (eic-tunnel.ts). */
      connection: e.PLUGIN_EIC_CONNECTION,
      tunnelsPerEndpoint: e.PLUGIN_EIC_TUNNELS_PER_ENDPOINT,
      tunnelUrl: e.PLUGIN_EIC_TUNNEL_URL,
      endpointIds: e.PLUGIN_EIC_ENDPOINT_IDS,
    },
    configDirFor: (runtime: string) => configDirs[runtimeKey(runtime)] ?? '/configs',
    githubCodeloadUrl: e.GITHUB_CODELOAD_URL.replace(/\/+$/, ''),
    githubToken: e.GITHUB_TOKEN,
    githubTokenSecretArn: e.GITHUB_TOKEN_SECRET_ARN,
    clawhubBaseUrl: e.CLAWHUB_BASE_URL?.replace(/\/+$/, ''),
    awsHttpTimeoutMs: e.AWS_HTTP_TIMEOUT,
    s3PathStyle: Boolean(e.AWS_ENDPOINT_URL_S3 || e.AWS_ENDPOINT_URL),
    reconcile: {
      /** A RUNNING operation younger than this is not checked: its execution is surely still starting. */
      graceMs: e.PLUGIN_RECONCILE_AFTER,
      /** How often `npm start` sweeps; on AWS the sweep rides the cleanup schedule. */
      intervalMs: e.PLUGIN_RECONCILE_INTERVAL,
      batch: e.PLUGIN_RECONCILE_BATCH,
    },
  };
}

const LogLevel = z.pipe(z.string().check(z.trim(), z.toUpperCase()), z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT']));
export type LogLevel = z.infer<typeof LogLevel>;

/**
 * `LOG_LEVEL`, read on its own: the logger exists from module load, before `loadConfig` runs, and
 * a bad level must not stop a Lambda. Unset, tests log nothing; a level Powertools does not know
 * logs at INFO, as Powertools itself would.
 */
export function logLevelFrom(env: NodeJS.ProcessEnv = process.env): LogLevel {
  if (env.LOG_LEVEL === undefined) return env.NODE_ENV === 'test' || env.VITEST ? 'SILENT' : 'INFO';
  return LogLevel.safeParse(env.LOG_LEVEL).data ?? 'INFO';
}

function keyedByRuntime(dirs: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(dirs).map(([runtime, dir]) => [runtimeKey(runtime), dir]));
}

/** `PLUGIN_CONFIG_DIRS` is `runtime=/dir,runtime2=/dir2`. */
function parseConfigDirs(text: string | undefined): Record<string, string> {
  if (!text) return {};
  const entries = text
    .split(',')
    .map((pair) => pair.trim())
    .filter(Boolean)
    .map((pair) => {
      const [runtime, dir] = pair.split('=');
      if (!runtime || !dir?.startsWith('/')) throw new Error(`invalid PLUGIN_CONFIG_DIRS entry "${pair}"`);
      return [runtime, dir.replace(/\/+$/, '')] as const;
    });
  return Object.fromEntries(entries);
}
