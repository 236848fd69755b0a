import * as z from './zod.js';
import { runtimeKey } from '@molecule/plugins-sdk/contract/runtimes';

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

export const EnvSchema = z.object({
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
  PLUGIN_HEALTH_COMMAND: optionalText,
  PLUGIN_HEALTH_TIMEOUT: durationWhere('60s', (ms) => ms >= 2_000 && ms <= 240_000, 'must be between 2s and 4m'),
  PLUGIN_REVISIONS_KEPT: int(5),
  PLUGIN_ROLLOUT_TICK: durationWhere('5s', (ms) => ms >= 1_000 && ms <= 60_000 && ms % 1_000 === 0, 'must be whole seconds from 1s to 60s'),
  PLUGIN_CONFIG_DIRS: optionalText,
  PLUGIN_CLEANUP_BATCH: int(50),
  PLUGIN_CLEANUP_INTERVAL: durationWhere('15m', (ms) => ms > 0, 'must be longer than 0'),
  PLUGIN_DRIFT_SWEEP_BATCH: z._default(z.coerce.number().check(z.int(), z.nonnegative()), 20),
  PLUGIN_DRIFT_SWEEP_AFTER: duration('6h'),
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

/**
 * How docs/configuration.md describes each variable: `npm run docs:config` (scripts/config-docs.ts)
 * renders these with the defaults read from `EnvSchema` above, and a unit test fails when the file
 * is not what it renders. The type makes a variable added to the schema without a description a
 * compile error.
 */
export interface VariableDoc {
  /** Shown after the schema's default (`(100 MiB)`), or in its place when the schema has none. */
  default?: string;
  /** What the local stack (`npm start`) sets or does instead, when that differs. */
  locally?: string;
  description: string;
}

export const ENV_DOCS: Record<keyof typeof EnvSchema.shape, VariableDoc> = {
  ADMIN_TOKEN: { locally: 'generated and printed unless set', description: 'the admin bearer token' },
  ADMIN_TOKEN_SECRET_ARN: { description: 'on AWS: Secrets Manager secret holding the admin token' },
  DATABASE_URL: { locally: 'an embedded PostgreSQL (PGlite) unless set', description: 'PostgreSQL connection string' },
  DATABASE_SECRET_ARN: { description: 'on AWS: RDS-style secret `{username,password,host,port,dbname}`' },
  DATABASE_HOST: {
    default: 'from the secret',
    description: 'what an RDS-managed master secret (`username`, `password` only) lacks; the stack sets it from context (`databaseHost`)',
  },
  DATABASE_PORT: { default: 'from the secret', description: 'as `DATABASE_HOST` (`databasePort`)' },
  DATABASE_NAME: { default: 'from the secret', description: 'as `DATABASE_HOST` (`databaseName`)' },
  DATABASE_PROXY_ENDPOINT: { description: 'connect through this RDS Proxy instead of the secret’s host' },
  DATABASE_CA_FILE: {
    default: 'Node’s roots (`/var/runtime/ca-cert.pem` on Lambda, set by the stack)',
    description: 'CA bundle the server certificate must chain to; connections built from the secret always verify (`verify-full`)',
  },
  DATABASE_POOL_MAX: { default: '(1–2 on Lambda, set by the stack)', locally: '`10` unless set', description: 'connections per process' },
  AWS_REGION: { description: 'region for every AWS client' },
  AWS_ENDPOINT_URL: {
    default: 'real AWS',
    locally: 'per service: `AWS_ENDPOINT_URL_S3`, `_SSM`, `_SFN`, `_EC2`, `_EC2_INSTANCE_CONNECT` point at the emulators',
    description: 'endpoint override for every AWS client (LocalStack, the local emulators); `AWS_ENDPOINT_URL_<SERVICE>` overrides one service',
  },
  AWS_ENDPOINT_URL_S3: { default: 'real AWS', description: 'the S3 endpoint; set (or `AWS_ENDPOINT_URL`), S3 is addressed path-style' },
  AWS_HTTP_TIMEOUT: { description: 'request timeout of every AWS client' },
  STAGING_BUCKET: { description: 'staged tarballs (expire after 1 day on AWS)' },
  REGISTRY_BUCKET: { default: 'the staging bucket', description: 'the curated `local://` registry' },
  REGISTRY_PREFIX: { description: 'key prefix of the registry in its bucket' },
  STATE_MACHINE_ARN: { default: 'set by the stack', locally: 'the local engine’s', description: 'the delivery workflow' },
  PLUGIN_INSTALL_MAX_DIR_BYTES: { default: '(100 MiB)', description: 'total uncompressed bytes' },
  PLUGIN_INSTALL_MAX_FILES: { description: 'archive entries' },
  PLUGIN_INSTALL_MAX_ARCHIVE_BYTES: { default: '(100 MiB)', description: 'compressed bytes' },
  PLUGIN_INSTALL_BODY_MAX_BYTES: { default: '(64 KiB)', description: 'request body cap' },
  PLUGIN_INSTALL_FETCH_TIMEOUT: { description: 'bound on fetching a source, counted from the request across retried fetches (504 `fetch_timeout`)' },
  PLUGIN_ALLOW_UNPINNED: { description: 'allow `github://owner/repo` without `#ref`' },
  PLUGIN_MAX_OPERATIONS_PER_ORG: {
    description: 'install/uninstall operations one org may have in flight; past it 429 `too_many_operations` (stack context `maxOperationsPerOrg`)',
  },
  PLUGIN_DOWNLOAD_BUDGET: {
    default: '(under 30 s)',
    description: 'how long `/download` stages synchronously before answering 202 + `Retry-After` (API Gateway stops at 30 s)',
  },
  PLUGIN_PRESIGN_TTL: { default: '(max 300)', description: 'lifetime of presigned download URLs' },
  PLUGIN_DELIVERY_TIMEOUT: { description: 'bound on one host command' },
  PLUGIN_SSM_DOCUMENT: { default: '(the stack sets its own versioned document)', description: 'the SSM Command document the host steps run' },
  PLUGIN_SSM_POLL_INTERVAL: { locally: '`25ms` unless set', description: 'first wait between SSM status polls (grows ×1.5, jittered)' },
  PLUGIN_EIC_OS_USER: { description: 'OS user EC2 Instance Connect pushes the one-time key for and SSH logs in as' },
  PLUGIN_EIC_SSH_PORT: { locally: 'the EIC emulator’s SSH port', description: 'SSH port on the instance' },
  PLUGIN_EIC_SSH_HOST: { default: 'the instance’s private IP', locally: 'the EIC emulator (loopback)', description: 'connect here instead of the private IP' },
  PLUGIN_EIC_SSH_COMMAND: {
    locally: '`bash -s`',
    description: 'remote command that reads the host script on stdin (run under `timeout` with `PLUGIN_DELIVERY_TIMEOUT`)',
  },
  PLUGIN_EIC_HOST_KEY_FINGERPRINTS: {
    default: 'none: EIC delivery refuses',
    locally: 'the emulator’s host key',
    description: 'comma-separated `SHA256:…` host key fingerprints to accept (how to get them: infra/README.md)',
  },
  PLUGIN_EIC_ACCEPT_ANY_HOST_KEY: {
    description:
      'with no fingerprints pinned, accept any host key instead of failing with `delivery_failed` "host key not pinned" (context `eicAcceptAnyHostKey`)',
  },
  PLUGIN_EIC_CONNECTION: {
    description: '`direct` (SSH to the private IP), `endpoint` (through an EC2 Instance Connect Endpoint tunnel) or `auto` (the endpoint when the VPC has one)',
  },
  PLUGIN_EIC_TUNNELS_PER_ENDPOINT: { description: 'tunnels open at once per endpoint, across all steps (PostgreSQL slots); then wait, then `workspace_busy`' },
  PLUGIN_EIC_ENDPOINT_IDS: { default: 'any in the VPC; on AWS the stack sets it', description: 'comma-separated `eice-…` endpoints the tunnels may use' },
  PLUGIN_EIC_TUNNEL_URL: {
    default: '`wss://<endpoint DNS name>`',
    locally: 'the EIC emulator',
    description: '`ws://host:port` or `wss://host` to open tunnels at instead',
  },
  PLUGIN_LEASE_TTL: { description: 'how long a crashed operation can hold a workspace' },
  PLUGIN_RESTART_COMMAND: {
    locally: 'unless set, append a line to the instance’s `var/log/molecule-restarts.log`',
    description: 'restart command; `{workspaceId}` is substituted shell-quoted',
  },
  PLUGIN_HEALTH_COMMAND: {
    default: 'per runtime: the agent container is running and, when it has a HEALTHCHECK, healthy; langgraph also answers `/ok` (docs/operations.md)',
    locally: 'unless set, pass when the emulated agent’s `var/run/molecule-agent.health` reads `healthy`',
    description:
      'the health check run after a restart (SPEC §9), exit 0 = healthy: one command for every runtime, or a JSON object `{"<runtime>": "<command>", "*": "<command>"}`; `{workspaceId}` is substituted shell-quoted',
  },
  PLUGIN_HEALTH_TIMEOUT: { description: 'how long the health gate retries the check (every 2 s) before it puts the previous version back' },
  PLUGIN_ROLLOUT_TICK: {
    locally: '`1s` unless set',
    description: 'how often a fleet rollout’s driver looks at its installs and starts the next (SPEC §10); whole seconds',
  },
  PLUGIN_REVISIONS_KEPT: { description: 'revisions per workspace and plugin whose tarball stays in S3 (`revisions/<sha256>.tar.gz`) for a rollback' },
  PLUGIN_CONFIG_DIRS: {
    default: '`claude-code=/configs,hermes=/home/ubuntu/.hermes,langgraph=/opt/configs`',
    description: 'per-runtime config dir overrides, `runtime=/dir,...` (others: `/configs`)',
  },
  PLUGIN_CLEANUP_BATCH: { description: 'uninstalls one cleanup run may start' },
  PLUGIN_CLEANUP_INTERVAL: { description: 'how often the scheduled cleanup runs (the stack’s EventBridge schedule, the local scheduler)' },
  PLUGIN_DRIFT_SWEEP_BATCH: { description: 'workspaces one cleanup run verifies for drift (SPEC §12), least recently verified first; 0 turns the sweep off' },
  PLUGIN_DRIFT_SWEEP_AFTER: { description: 'the drift sweep verifies a workspace again once its last verify is this old (never verified: first)' },
  PLUGIN_RECONCILE_AFTER: { description: 'a RUNNING operation younger than this is not reconciled: its execution is surely still starting' },
  PLUGIN_RECONCILE_INTERVAL: { description: 'how often `npm start` reconciles operations whose execution ended; on AWS it runs on the cleanup schedule' },
  PLUGIN_RECONCILE_BATCH: { description: 'RUNNING operations one reconcile sweep checks' },
  GITHUB_CODELOAD_URL: { description: 'where `github://` archives come from' },
  GITHUB_TOKEN: { description: 'token for private repositories' },
  GITHUB_TOKEN_SECRET_ARN: { description: 'on AWS: secret holding that token (context `githubTokenSecretArn`)' },
  CLAWHUB_BASE_URL: { description: 'enables `clawhub://name@version`' },
};

/**
 * Variables read outside `loadConfig`, each with the file that reads it (the docs test checks that
 * file names it), so docs/configuration.md has one source for them too.
 */
export const OTHER_ENV_DOCS: Record<string, VariableDoc & { readBy: string }> = {
  LOG_LEVEL: {
    readBy: 'lambdas/shared/config.ts',
    default: '`INFO` (tests: `SILENT`)',
    description: 'structured JSON logs (Powertools), `operationId` on every workflow line; an unknown level logs at `INFO`',
  },
  POWERTOOLS_METRICS_DISABLED: {
    readBy: 'lambdas/shared/metrics.ts',
    default: 'on in Lambda, off elsewhere',
    description: '`false` publishes metrics outside Lambda too, `true` turns them off in Lambda',
  },
  POWERTOOLS_TRACE_ENABLED: {
    readBy: 'lambdas/shared/tracing.ts',
    default: 'on in Lambda, off elsewhere',
    description: '`false` turns X-Ray tracing off in Lambda; outside Lambda it is always off',
  },
  PORT: { readBy: 'local/main.ts', default: '`3000`', description: 'local only: the API port of `npm start`' },
  MOLECULE_LOCAL_DIR: {
    readBy: 'local/main.ts',
    default: '`.local`',
    description: 'local only: all local state: embedded database, S3 objects, emulated instance roots `instances/<id>/`',
  },
  MOLECULE_REGISTRY_DIR: {
    readBy: 'local/main.ts',
    description: 'local only: extra directory of plugin directories to seed the local registry with (besides `./plugins`)',
  },
  MOLECULE_LOCAL_FAULTS: {
    readBy: 'local/faults.ts',
    description:
      'local only: `service.fault=rate,...` makes the emulators answer as AWS does under trouble: `ssm.{throttle,error,lost_invocation,unknown_instance}`, `ec2.{throttle,error,unknown_instance}`, `eic.{throttle,error,unknown_instance}`, `s3.{error,throttle}` (rates 0–1; a malformed value stops `npm start`)',
  },
  MOLECULE_LOCAL_FAULTS_SEED: {
    readBy: 'local/faults.ts',
    default: 'random',
    description: 'local only: an integer that makes partial fault rates repeat run to run',
  },
};

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
  const healthCommands = parseHealthCommands(e.PLUGIN_HEALTH_COMMAND);
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
    /** The health gate's check for a runtime (SPEC §9); `{workspaceId}` still to be substituted. */
    healthCommandFor: (runtime: string) => healthCommands[runtimeKey(runtime)] ?? healthCommands['*'] ?? DEFAULT_HEALTH_COMMAND,
    healthTimeoutMs: e.PLUGIN_HEALTH_TIMEOUT,
    revisionsKept: e.PLUGIN_REVISIONS_KEPT,
    rolloutTickSeconds: e.PLUGIN_ROLLOUT_TICK / 1000,
    cleanupBatch: e.PLUGIN_CLEANUP_BATCH,
    cleanupIntervalMs: e.PLUGIN_CLEANUP_INTERVAL,
    driftSweep: {
      /** Workspaces one cleanup run verifies (SPEC §12); 0: no sweep. */
      batch: e.PLUGIN_DRIFT_SWEEP_BATCH,
      /** A workspace verified more recently than this is left for a later run. */
      afterMs: e.PLUGIN_DRIFT_SWEEP_AFTER,
    },
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

/**
 * On a real host the agent runs in the Docker container `ws-<workspaceId>` (the default restart
 * command restarts it). A runtime that cannot load a plugin exits or fails its image's
 * HEALTHCHECK, so the container must be running, not restarting, and healthy when the image
 * declares a check. The state is printed, so a failed gate shows it in its output lines.
 */
const DEFAULT_HEALTH_COMMAND = String.raw`state=$(docker inspect --format '{{.State.Status}} {{.State.Restarting}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' ws-{workspaceId}) && echo "container: $state" && case "$state" in 'running false healthy' | 'running false none') ;; *) exit 1 ;; esac`;

/** Per runtime, on top of the container check: LangGraph's API server answers `GET /ok` once its graphs loaded. */
const DEFAULT_HEALTH_COMMANDS: Record<string, string> = {
  langgraph: `${DEFAULT_HEALTH_COMMAND} && docker exec ws-{workspaceId} curl -fsS --max-time 5 http://127.0.0.1:8000/ok`,
};

/** `PLUGIN_HEALTH_COMMAND`: one command for every runtime, or a JSON object keyed by runtime (`*`: the others). */
function parseHealthCommands(text: string | undefined): Record<string, string> {
  const commands = { ...DEFAULT_HEALTH_COMMANDS };
  if (!text?.trim()) return commands;
  if (!text.trim().startsWith('{')) return { '*': text };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error('invalid PLUGIN_HEALTH_COMMAND: not a JSON object of runtime to command');
  }
  const entries = Object.entries(parsed as Record<string, unknown>);
  if (entries.some(([, command]) => typeof command !== 'string' || !command.trim())) {
    throw new Error('invalid PLUGIN_HEALTH_COMMAND: every runtime needs a command (a non-empty string)');
  }
  return { ...commands, ...keyedByRuntime(Object.fromEntries(entries) as Record<string, string>) };
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
