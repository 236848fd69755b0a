import * as z from '../zod.js';
import { OperationKind, OperationStatus, RepairMode, Transport } from './vocabulary.js';

/**
 * The bodies the API answers with (SPEC §4), as zod schemas, but the error body, which the
 * service builds from its error declarations (lambdas/api/contract/responses.ts): the OpenAPI
 * document is generated from them, route handlers are type-checked against them, the service
 * takes its types from them and a client may import them (this package's client types its answers
 * with them). Loaded only by the document and by clients, never at a Lambda's start-up. A body's
 * name is its component's name in the document.
 */

/** An RFC 3339 time with its offset, as every answer writes times (`toISOString()`: UTC, `Z`). */
const Timestamp = z.iso.datetime({ offset: true });

export const Workspace = z.object({
  id: z.string(),
  orgId: z.string(),
  runtime: z.string(),
  instanceId: z.nullable(z.string()),
  transport: Transport,
  status: z.string(),
});

export const TransportTaken = z.enum(['ssm', 'eic-direct', 'eic-endpoint']);

export const StepRetry = z.object({ error: z.string(), at: Timestamp });

export const StepRecord = z.object({
  /** The state machine's Task state: Stage, CheckAllowlist, Deliver, Restart, Record; Remove; RecordFailure. */
  name: z.string(),
  status: z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'SKIPPED']),
  /** When the first attempt started; `endedAt` is when the last one ended. */
  startedAt: Timestamp,
  endedAt: z.optional(Timestamp),
  durationMs: z.optional(z.number()),
  /** 1 + the retries. */
  attempts: z.int().check(z.gte(1)),
  retries: z.array(StepRetry),
  transport: z.optional(TransportTaken),
  commandId: z.optional(z.string()),
  sshHost: z.optional(z.string()),
  error: z.optional(z.object({ code: z.string(), message: z.string() })),
  /** The host's last output lines (at most 20 of at most 200 characters), secrets redacted. */
  outputTail: z.optional(z.array(z.string())),
});

/** Who signed a plugin: a principal of the org's trust document and the key's fingerprint (SPEC §11). */
export const Signer = z.object({ principal: z.string(), fingerprint: z.string() });

/** What an install would change (SPEC §9 plans): the staged files against the active revision's. */
export const Plan = z.object({
  status: z.literal('planned'),
  operationId: z.uuid(),
  plugin: z.string(),
  /** The active revision; `revision` null when the plugin was installed before revisions were kept. */
  from: z.nullable(z.object({ version: z.nullable(z.string()), sha256: z.string(), revision: z.nullable(z.int()) })),
  to: z.object({ version: z.nullable(z.string()), sha256: z.string() }),
  files: z.object({ added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()) }),
  /** Whether the install would restart the agent (SPEC §5: not for SKILL.md edits alone, nor for no change). */
  restart: z.boolean(),
  allowed: z.boolean(),
  /** The error code the install would meet, when `allowed` is false. */
  blockedBy: z.optional(z.enum(['plugin_not_allowed', 'plugin_source_conflict', 'signature_required', 'signature_invalid'])),
  warnings: z.array(z.string()),
});

/** Paths under a plugin dir that differ from its active revision's files (SPEC §9, §12). */
export const FileChanges = z.object({ added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()) });

/** One plugin as a verify found it against the records (SPEC §12). */
export const VerifiedPlugin = z.object({
  name: z.string(),
  /** ok: as recorded; modified: its files differ; missing: recorded, not on the host; unknown: on the host, not recorded. */
  state: z.enum(['ok', 'modified', 'missing', 'unknown']),
  /** What the records say is installed (absent: unknown). */
  recorded: z.optional(z.object({ version: z.nullable(z.string()), sha256: z.string() })),
  /** What the host has (absent: missing). */
  found: z.optional(
    z.object({
      /** Its content hash (SPEC §3), computed as Stage computes it. */
      sha256: z.string(),
      /** The version its plugin.yaml declares. */
      version: z.optional(z.nullable(z.string())),
      /** Where the last install says it came from, when its install marker was written for this very directory. */
      source: z.optional(z.string()),
      /** The skills it declares whose `skills/<name>` dir is its own copy. */
      skills: z.optional(z.array(z.string())),
    }),
  ),
  /** modified: the files that differ from the active revision's (at most 1000 paths per list). */
  files: z.optional(FileChanges),
});

/** What a verify found (SPEC §12): the operation's `verify`, and with Prefer: wait the 200 body. */
export const Verification = z.object({
  status: z.literal('verified'),
  operationId: z.uuid(),
  /** Whether anything differs from the records, or debris is left. */
  drift: z.boolean(),
  plugins: z.array(VerifiedPlugin),
  /** Leftovers relative to the config dir's `plugins/`: `.staging/<entry>`, `.previous/<name>` of a plugin no longer installed, stale markers. */
  debris: z.array(z.string()),
});

/** What a repair changed (SPEC §12): the operation's `repair`, and with Prefer: wait the 200 body. */
export const Repair = z.object({
  status: z.literal('repaired'),
  operationId: z.uuid(),
  mode: RepairMode,
  /** reinstall: the plugins delivered again; adopt: the plugins recorded as the host has them, with their new revision. */
  plugins: z.array(z.object({ name: z.string(), action: z.enum(['reinstalled', 'adopted']), sha256: z.string(), revision: z.optional(z.int()) })),
  /** clean: the debris removed. */
  debris: z.array(z.string()),
  /** Whether the workspace restarted (a reinstall that delivered something). */
  restarted: z.boolean(),
});

export const Operation = z.object({
  operationId: z.uuid(),
  workspaceId: z.string(),
  orgId: z.string(),
  kind: OperationKind,
  status: OperationStatus,
  plugin: z.nullable(z.string()),
  source: z.nullable(z.string()),
  sha256: z.nullable(z.string()),
  executionArn: z.nullable(z.string()),
  /** The Step Functions execution's name: `install-<workspace>-<plugin>-<8 hex>`. */
  executionName: z.nullable(z.string()),
  /** The AWS console page of the execution; null on the local stack. */
  consoleUrl: z.nullable(z.string()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  steps: z.array(StepRecord),
  warnings: z.array(z.string()),
  /** The fleet rollout that started it (SPEC §10). */
  rolloutId: z.optional(z.string()),
  /** install: the revision it recorded; rollback: the revision it went back to. */
  revision: z.optional(z.int()),
  /** plan: what the install would change. */
  plan: z.optional(Plan),
  /** verify, repair: what the host had, held against the records (for a repair: before it mended anything). */
  verify: z.optional(Verification),
  /** repair: what it changed. */
  repair: z.optional(Repair),
  error: z.optional(
    z.object({
      code: z.string(),
      message: z.string(),
      httpStatus: z.int(),
      /** health_check_failed: true when the host is back as it was before the operation. */
      rolledBack: z.optional(z.boolean()),
      /** health_check_failed: the check's last output lines. */
      output: z.optional(z.array(z.string())),
      /** signature_invalid: why (SPEC §11), the signing key's fingerprint when known, and the statement checked. */
      reason: z.optional(z.string()),
      fingerprint: z.optional(z.string()),
      statement: z.optional(z.string()),
    }),
  ),
  /** Who signed the plugin, as Stage verified it against the org's trust (SPEC §11). */
  signer: z.optional(Signer),
});

export const RegistryEntry = z.object({
  name: z.string(),
  version: z.nullable(z.string()),
  description: z.nullable(z.string()),
  author: z.nullable(z.string()),
  tags: z.array(z.string()),
  skills: z.array(z.string()),
  runtimes: z.array(z.string()),
});

export const Health = z.object({
  status: z.literal('ok'),
  /** Liveness stays 200; `behind` says the database lacks a migration this code needs. */
  schema: z.optional(z.literal('behind').check(z.describe('present when the database lacks a migration this code needs'))),
});

/** 202: an install, uninstall, rollback, plan, verify or repair was accepted and runs; poll `statusUrl`. */
export const Accepted = z.object({
  status: z.enum(['installing', 'uninstalling', 'rolling_back', 'planning', 'verifying', 'repairing']),
  operationId: z.uuid(),
  statusUrl: z.string().check(z.describe('the operation, GET /workspaces/{id}/plugins/operations/{operationId}')),
});

/**
 * 200: an install that finished within `Prefer: wait`, or a pulled plugin an external workspace
 * reported (recorded at once, no operation: no `operationId`).
 */
export const Installed = z.object({
  status: z.literal('installed'),
  plugin: z.nullable(z.string()),
  source: z.nullable(z.string()),
  sha256: z.nullable(z.string()),
  operationId: z.optional(z.uuid()),
});

/** 200 of `POST /workspaces/{id}/plugins`: an install, or with `dryRun` a plan. */
export const InstallOutcome = z.union([Installed, Plan]);

/** 200: an uninstall that finished within `Prefer: wait`. */
export const Uninstalled = z.object({
  status: z.literal('uninstalled'),
  plugin: z.nullable(z.string()),
  operationId: z.uuid(),
});

/** 200: a rollback that finished within `Prefer: wait`. */
export const RolledBack = z.object({
  status: z.literal('rolled_back'),
  plugin: z.string(),
  revision: z.int(),
  sha256: z.string(),
  operationId: z.uuid(),
});

export const RevisionFile = z.object({ path: z.string(), sha256: z.string(), size: z.int().check(z.nonnegative()) });

/** One delivered version of a plugin on a workspace (SPEC §9). */
export const Revision = z.object({
  revision: z.int().check(z.gte(1)),
  version: z.nullable(z.string()),
  source: z.string(),
  sha256: z.string(),
  files: z.array(RevisionFile),
  signer: z.optional(Signer),
  operationId: z.uuid(),
  installedAt: Timestamp,
  status: z.enum(['active', 'superseded', 'rolled_back', 'removed']),
  /** Whether its tarball is still kept for a rollback without fetching the source again. */
  kept: z.boolean(),
});

/** `GET /workspaces/{id}/plugins/{name}/revisions`: newest first. */
export const RevisionList = z.object({ plugin: z.string(), revisions: z.array(Revision) });

/** A rate control as given: a number, or a percentage of the target count. */
const RateValue = z.union([z.int(), z.string()]);

const RolloutCounts = z.object({
  total: z.int(),
  pending: z.int(),
  running: z.int(),
  succeeded: z.int(),
  failed: z.int(),
  /** Failed as `workspace_unreachable`: counted among the failures and apart. */
  unreachable: z.int(),
  skipped: z.int(),
});

/** A fleet rollout without its workspaces (SPEC §10). */
export const RolloutSummary = z.object({
  rolloutId: z.uuid(),
  orgId: z.string(),
  status: z.enum(['RUNNING', 'SUCCEEDED', 'STOPPED', 'CANCELLED', 'FAILED']),
  kind: z.enum(['install', 'rollback']),
  plugin: z.nullable(z.string()),
  source: z.nullable(z.string()),
  sha256: z.nullable(z.string()),
  maxConcurrency: RateValue,
  maxErrors: RateValue,
  canary: z.int(),
  failureMode: z.enum(['tolerant', 'strict']),
  /** Cancel was asked: no new install starts; it ends CANCELLED once those in flight finish. */
  cancelRequested: z.boolean(),
  counts: RolloutCounts,
  createdAt: Timestamp,
  updatedAt: Timestamp,
  error: z.optional(z.object({ code: z.string(), message: z.string(), httpStatus: z.int() })),
});

/** A fleet rollout with every target, in workspace-id order. */
export const Rollout = z.extend(RolloutSummary, {
  workspaces: z.array(
    z.object({
      workspaceId: z.string(),
      status: z.enum(['pending', 'running', 'succeeded', 'failed', 'skipped', 'rolled_back']),
      operationId: z.optional(z.string()),
      error: z.optional(z.object({ code: z.string(), message: z.string() })),
      /** skipped: why (`external_runtime`, `unsupported_runtime`, `already_installed`, `workspace_removed`). */
      reason: z.optional(z.string()),
      /** A dry-run rollout: what the install would change here. */
      plan: z.optional(Plan),
    }),
  ),
});

export const RolloutList = z.object({ rollouts: z.array(RolloutSummary) });

/** 202: the rollout runs (or runs again); poll `statusUrl`. */
export const RolloutAccepted = z.object({
  rolloutId: z.uuid(),
  statusUrl: z.string().check(z.describe('the rollout, GET /orgs/{orgId}/rollouts/{rolloutId}')),
});

/** 202: `DELETE ?at=` a time still ahead; the cleanup uninstalls the plugin then. */
export const Scheduled = z.object({
  status: z.literal('scheduled'),
  plugin: z.string(),
  uninstallAt: Timestamp,
});

export const UninstallAccepted = z.union([Accepted, Scheduled]);

/** 202: the download's staging outlasted its budget; it goes on, retry after `retryAfterSeconds`. */
export const Staging = z.object({
  status: z.literal('staging'),
  plugin: z.string(),
  source: z.string(),
  retryAfterSeconds: z.int(),
});

export const InstalledPlugin = z.object({
  name: z.string(),
  version: z.nullable(z.string()),
  source: z.string(),
  sha256: z.string(),
  installedAt: Timestamp,
  updatedAt: Timestamp,
  /** When the cleanup uninstalls it (`uninstallAfter`, `DELETE ?at=`). */
  uninstallAt: z.nullable(Timestamp),
  /** `push`: delivered by the workflow; `pull`: reported by an external workspace that pulled it. */
  installedVia: z.enum(['push', 'pull']),
  supported_on_runtime: z.boolean(),
});
export const InstalledPluginList = z.array(InstalledPlugin);

export const RegistryList = z.array(RegistryEntry);

export const SourceSchemes = z.object({ schemes: z.array(z.string()) });

export const Allowlist = z.object({
  org_id: z.string(),
  plugins: z.array(
    z.object({
      plugin_name: z.string(),
      /** The entry's pin: an origin (`github://acme/lint`) or an owner prefix (`github://acme/*`). */
      source: z.optional(z.string()),
      enabled_by: z.string(),
      enabled_at: Timestamp,
    }),
  ),
  /** An empty list allows every plugin. */
  allow_all: z.boolean(),
});

/** `GET, PUT /orgs/{orgId}/plugins/trust` (SPEC §11): the org's trusted signers and its signature policy. */
export const OrgTrust = z.object({
  orgId: z.string(),
  requireSignature: z.boolean(),
  signers: z.array(
    z.object({
      /** Matched exactly: the name the signer is recorded under. */
      principal: z.string(),
      /** `ssh-ed25519 AAAA… [comment]` */
      publicKey: z.string(),
      /** The key's fingerprint as `ssh-keygen -l` prints it (`SHA256:…`). */
      fingerprint: z.string(),
      /** ISO-8601: the key signs for the principal from then on. */
      validAfter: z.optional(z.string()),
      /** ISO-8601: ...until then. */
      validBefore: z.optional(z.string()),
    }),
  ),
  /** Fingerprints refused whatever the signers say. */
  revokedKeys: z.array(z.string()),
  /** When the document was last put; null: never (nothing trusted, no signature required). */
  updatedAt: z.nullable(Timestamp),
});

export const OperationList = z.array(Operation);

/** 201: the token itself, shown once (only its sha256 is stored). */
export const MintedToken = z.object({ token: z.string(), prefix: z.string() });

export const RevokedToken = z.object({ prefix: z.string(), revoked: z.int() });

const CleanupCandidate = { workspaceId: z.string(), name: z.string(), reason: z.enum(['uninstall_due', 'not_in_allowlist', 'retry_failed_uninstall']) };
export const CleanupSummary = z.object({
  started: z.array(z.object({ ...CleanupCandidate, operationId: z.uuid() })),
  failedToStart: z.array(z.object({ ...CleanupCandidate, error: z.string() })),
  purgedRows: z.int(),
  /** Kept revisions' tarballs deleted: no kept revision names them any more (SPEC §9). */
  expiredTarballs: z.int(),
  /** The drift sweep (SPEC §12): the verifies it started, least recently verified workspaces first, and how many workspaces the latest verifies found drifted. */
  driftSweep: z.optional(
    z.object({
      started: z.array(z.object({ workspaceId: z.string(), operationId: z.uuid() })),
      failedToStart: z.array(z.object({ workspaceId: z.string(), error: z.string() })),
      driftedWorkspaces: z.int(),
    }),
  ),
});

/** Answer headers. */
export const OperationIdHeader = z.uuid();
export const RetryAfterHeader = z.int().check(z.gte(0));
export const LocationHeader = z.url();
export const BearerChallenge = z.literal('Bearer');

/** `GET /openapi.json`: an OpenAPI 3.1 document. */
export const OpenApiDocument = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.looseObject({})),
});
