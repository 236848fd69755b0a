import type { NewOperation, OperationFilter, OperationPage, RecordedOperation } from '../store/operations.js';
import type { CleanupCandidate, InstalledInput, InstalledPlugin } from '../store/installed.js';
import type { WorkspaceInput } from '../store/workspaces.js';
import type { AllowlistEntry, AllowlistInput } from '../store/allowlist.js';
import type { StoredTrust } from '../store/trust.js';
import type { TrustDocument } from '@molecule/plugins-sdk/signing';
import type { ErrorRecord } from '../shared/errors.js';
import type { AllowlistMatch, Operation, PluginRevision, RegistryEntry, StagedPlugin, Workspace } from '../shared/types.js';
import type { WorkflowState } from '../workflow/steps/state.js';
import type { Log } from '../shared/logger.js';

/** What the use cases need from the outside world; adapters over PostgreSQL, Step Functions and S3 implement them. */

export interface WorkspaceStore {
  get(id: string): Promise<Workspace | null>;
  /** Creates or replaces a workspace; the first workspace naming an org creates the org. */
  upsert(id: string, input: WorkspaceInput): Promise<{ workspace: Workspace; created: boolean }>;
  orgExists(orgId: string): Promise<boolean>;
  /** Forgets the plugin rows of removed workspaces, at most `batch`; returns how many. */
  purgeRemovedPlugins(batch: number): Promise<number>;
}

export type { RecordedOperation };

export interface OperationStore {
  /** Records a RUNNING operation, returns the one already recorded under its idempotency key, or refuses it at the org's cap. */
  create(op: NewOperation): Promise<RecordedOperation>;
  findByIdempotencyKey(workspaceId: string, key: string): Promise<{ operation: Operation; requestHash: string | null } | null>;
  get(id: string): Promise<Operation | null>;
  /** Newest first, one page (the ops view). */
  list(filter: OperationFilter): Promise<OperationPage>;
  setExecutionArn(id: string, executionArn: string): Promise<void>;
  fail(id: string, error: ErrorRecord): Promise<void>;
}

export interface InstalledStore {
  get(workspaceId: string, name: string): Promise<InstalledPlugin | null>;
  list(workspaceId: string): Promise<InstalledPlugin[]>;
  /** Records (or replaces) the plugin a workspace has: how it got there is `installedVia`. */
  record(plugin: InstalledInput): Promise<void>;
  scheduleUninstall(workspaceId: string, name: string, at: string): Promise<void>;
  cleanupCandidates(batch: number): Promise<CleanupCandidate[]>;
}

/** A plugin's revisions on a workspace (SPEC §9). */
export interface RevisionStore {
  /** Newest first; empty when the workspace never had the plugin. */
  list(workspaceId: string, plugin: string): Promise<PluginRevision[]>;
  /** Content hashes whose tarball no kept revision names any more, not deleted yet; at most `limit`. */
  expiredTarballs(limit: number): Promise<string[]>;
  markTarballsDeleted(sha256s: readonly string[]): Promise<void>;
}

/** The revisions' tarballs in the bucket (`revisions/<sha256>.tar.gz`). */
export interface KeptTarballStore {
  /** When the tarball was last written (Record's copy refreshes it); null when it is not there. */
  lastModified(sha256: string): Promise<Date | null>;
  delete(sha256s: readonly string[]): Promise<void>;
}

/** What the drift sweep reads (SPEC §12): whom to verify next, and how many the latest verifies found drifted. */
export interface DriftSweepStore {
  /** Claims workspaces with a host, not verified since `verifiedBefore`, least recently verified first; at most `batch`. */
  claim(batch: number, verifiedBefore: Date): Promise<string[]>;
  countDrifted(): Promise<number>;
}

export interface AllowlistStore {
  /** What the org's list says of `name` from `source`'s origin (judged by plugins/allowlist-policy.ts). */
  match(orgId: string, name: string, source: string): Promise<AllowlistMatch>;
  get(orgId: string): Promise<AllowlistEntry[]>;
  /** Replaces the org's list atomically; an empty list allows every plugin. */
  replace(orgId: string, entries: AllowlistInput[], enabledBy: string): Promise<AllowlistEntry[]>;
}

/** An org's trust in plugin signers (SPEC §11). */
export interface TrustStore {
  /** Null when the org never put one: nothing trusted, no signature required. */
  get(orgId: string): Promise<StoredTrust | null>;
  /** Replaces the org's document atomically; the caller checked it. */
  /** With `ifVersion`, only over that version; null when the document is not that version. */
  replace(orgId: string, trust: TrustDocument, ifVersion?: string): Promise<StoredTrust | null>;
}

export interface TokenStore {
  /** Stores only the token's hash; the token itself is returned once. */
  mint(kind: 'org' | 'workspace', scope: { orgId: string; workspaceId?: string }): Promise<{ token: string; prefix: string }>;
  /** How many live tokens it revoked. */
  revokeByPrefix(prefix: string): Promise<number>;
}

/** What starts a rollout's driver: its id, and where it stands (the rest of the state has defaults). */
export type RolloutStart = { kind: 'rollout'; rolloutId: string } & Record<string, unknown>;

/** Starts one execution of the delivery state machine; named after the operation, so a retry is idempotent. */
export interface WorkflowStarter {
  start(name: string, input: WorkflowState | RolloutStart): Promise<string>;
  /** The ARN an execution of this name will have (Step Functions derives it from the name). */
  executionArnFor(name: string): string | null;
}

/** What the use cases need of the source resolvers: the scheme list and the synchronous checks. */
export interface SourceCatalog {
  schemes(): string[];
  /** Throws InvalidSource, InvalidPluginName or UnpinnedSource; `expectedName` when the source names the plugin. */
  /** `canonical` spells the same source one way (`hello` and `LOCAL://hello` are `local://hello`). */
  validate(raw: string): { raw: string; canonical: string; scheme: string; expectedName?: string };
}

/** Stages a source on request (the download route) and hands out a short-lived URL to the tarball. */
export interface PluginStager {
  stage(source: string, log: Log): Promise<StagedPlugin>;
  presign(staged: StagedPlugin): Promise<string>;
}

export interface Clock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** The ports the operation use cases share. */
export interface OperationPorts {
  workflow: WorkflowStarter;
  operations: OperationStore;
  clock: Clock;
}

export type { RegistryEntry };

export interface RegistryReader {
  list(): Promise<RegistryEntry[]>;
}
