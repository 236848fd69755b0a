import type { ErrorRecord } from '../shared/errors.js';
import type {
  AllowlistMatch,
  InstalledInput,
  InstalledPlugin,
  OperationStatus,
  Plan,
  PluginRevision,
  Repair,
  RevisionFile,
  StagedPlugin,
  Signer,
  StepDetails,
  StepRecord,
  Verification,
} from '../shared/types.js';
import type { HostInventory } from '../delivery/inventory.js';
import type { NewRevision } from '../store/revisions.js';
import type { TrustDocument } from '@molecule/plugins-sdk/signing';

/**
 * What the workflow steps need from the outside world, as the use cases have theirs
 * (use-cases/ports.ts); lambdas/workflow/adapters/postgres.ts implements them over PostgreSQL.
 * The steps' own decisions (order, policy, messages) stay in the steps.
 */

/** The operation as the steps write it: each step's attempts, what Stage learned, the end. */
export interface OperationRecords {
  /** Marks the step started; returns the attempt's number (a retried step counts up). */
  stepStarted(operationId: string, step: string): Promise<number>;
  stepEnded(operationId: string, step: string, status: StepRecord['status'], details?: StepDetails): Promise<void>;
  staged(
    operationId: string,
    facts: { plugin: string; sha256: string; warnings: string[]; files: readonly RevisionFile[]; signer?: Signer | null },
  ): Promise<void>;
  /** The files Stage recorded on the operation; null before Stage. */
  stagedFiles(operationId: string): Promise<RevisionFile[] | null>;
  /** What a plan found (SPEC §9), kept on the operation. */
  planned(operationId: string, plan: Plan): Promise<void>;
  /** What a verify found on the host (SPEC §12), kept on the operation. */
  verified(operationId: string, verification: Verification): Promise<void>;
  /** What a repair changed (SPEC §12), kept on the operation. */
  repaired(operationId: string, repair: Repair): Promise<void>;
  /** Appends warnings a later step found, after those Stage recorded. */
  addWarnings(operationId: string, warnings: readonly string[]): Promise<void>;
  /**
   * The error the step is about to fail with, with its context fields (a signature's `reason`,
   * `fingerprint`, `statement`): a failed Task carries only its error's name and message to
   * RecordFailure, whose `finish` with the same code keeps them.
   */
  failing(operationId: string, error: ErrorRecord): Promise<void>;
  /** Closes a RUNNING operation; `closingStep` succeeded at closing it (RecordFailure). */
  finish(operationId: string, status: Exclude<OperationStatus, 'RUNNING'>, error?: ErrorRecord, closingStep?: string): Promise<void>;
}

/** The workspace lease (SPEC §6): operations on one host never interleave. */
export interface WorkspaceLeases {
  /** Whether `holder` now holds the workspace for `ttlMs` (lambdas/store/leases.ts says when it may). */
  acquire(workspaceId: string, holder: string, ttlMs: number): Promise<boolean>;
  release(workspaceId: string, holder: string): Promise<void>;
}

/** The plugins a workspace has, as recorded. */
export interface InstalledRecords {
  get(workspaceId: string, name: string): Promise<InstalledPlugin | null>;
  /** Every plugin recorded on the workspace. */
  list(workspaceId: string): Promise<InstalledPlugin[]>;
  record(plugin: InstalledInput): Promise<void>;
  forget(workspaceId: string, name: string): Promise<void>;
  /** A failed uninstall left the plugin in place: the cleanup retries it later. */
  markUninstallFailed(workspaceId: string, name: string): Promise<void>;
}

/** A restart a failed step owes the workspace, paid by its next change. */
export interface RestartDebts {
  isOwed(workspaceId: string): Promise<boolean>;
  setOwed(workspaceId: string, owed: boolean): Promise<void>;
}

/** What the org's allowlist says of a plugin from an origin (facts; the policy is plugins/allowlist-policy.ts). */
export interface AllowlistFacts {
  /** `origin` null: the plugin's origin is unknown, and a pinned entry then never matches. */
  match(orgId: string, pluginName: string, origin: string | null): Promise<AllowlistMatch>;
}

/** An org's trust in plugin signers (SPEC §11), as Stage judges a signature against it. */
export interface OrgTrust {
  /** The org's document; one it never put trusts no one and requires nothing. */
  get(orgId: string): Promise<TrustDocument>;
}

/** The revisions of a plugin on a workspace (SPEC §9). */
export interface PluginRevisions {
  /** Idempotent per operation: the delivery's revision, numbered next. */
  add(revision: NewRevision): Promise<PluginRevision>;
  get(workspaceId: string, plugin: string, revision: number): Promise<PluginRevision | null>;
  active(workspaceId: string, plugin: string): Promise<PluginRevision | null>;
  /** Every active revision on the workspace, by plugin. */
  activeOn(workspaceId: string): Promise<Map<string, PluginRevision>>;
  /** A rollback succeeded: `revision` is active again, the one it replaced rolled back. */
  reactivate(workspaceId: string, plugin: string, revision: number, operationId: string): Promise<void>;
  markRemoved(workspaceId: string, plugin: string): Promise<void>;
}

/** Where a revision's tarball is kept for a rollback: `revisions/<sha256>.tar.gz` in the staging bucket. */
export interface KeptTarballs {
  /** The kept tarball's location for `sha256`. */
  locate(sha256: string): { bucket: string; key: string };
  /** Copies a staged tarball to its kept location (a no-op when it is that location). */
  keep(staged: { bucket: string; key: string }, sha256: string): Promise<void>;
  exists(sha256: string): Promise<boolean>;
}

/** What a rollout's one Stage found, which each of its installs delivers (SPEC §10). */
export interface RolloutFacts {
  staged(rolloutId: string): Promise<{
    staged: StagedPlugin;
    files: RevisionFile[];
    signing?: { signer: Signer | null; warnings: string[]; blockedBy?: 'signature_invalid' | 'signature_required' };
  } | null>;
}

/** When each workspace was last verified and whether it drifted (SPEC §12: the sweep and its metric). */
export interface DriftMarks {
  verified(workspaceId: string, drifted: boolean): Promise<void>;
  /** A repair changed the workspace: the next sweep verifies it first. */
  repaired(workspaceId: string): Promise<void>;
}

/** Where a host uploads its inventory (scripts/inventory.sh), one object per operation, and reading it back. */
export interface Inventories {
  /** A presigned PUT URL for the operation's inventory. */
  uploadUrl(operationId: string): Promise<string>;
  read(operationId: string): Promise<HostInventory>;
  /** Once read for the last time; the bucket's lifecycle removes any left over. */
  discard(operationId: string): Promise<void>;
}

export interface StepPorts {
  operations: OperationRecords;
  leases: WorkspaceLeases;
  installed: InstalledRecords;
  restarts: RestartDebts;
  allowlist: AllowlistFacts;
  revisions: PluginRevisions;
  rollouts: RolloutFacts;
  trust: OrgTrust;
  drift: DriftMarks;
}
