import type * as z from './zod.js';
import type * as contract from '../api/contract/responses.js';

/** The names the SDK checks too: one definition, in the SDK package's contract. */
export { ContentHash, PLUGIN_NAME_RE, PluginName, WORKSPACE_ID_RE } from '@molecule/plugins-sdk/contract/names';

/** SPEC §5: only real instance ids are delivered to. */
export const INSTANCE_ID_RE = /^i-[0-9a-f]{8,17}$/;

export { OperationKind, OperationStatus, RepairMode, Transport } from '@molecule/plugins-sdk/contract/vocabulary';

/** The bounds of `GET /operations?limit=`: a page holds at most this many operations. */
export const OPERATIONS_PAGE_MAX = 100;

/*
 * The API's answers are zod schemas in api/contract/responses.ts (those of its resources from the
 * SDK package's contract), the one definition the OpenAPI document, the route handlers and clients
 * share. The service takes its types from there, by type only: no Lambda builds those schemas at start-up.
 */
export type Workspace = z.infer<typeof contract.Workspace>;
/**
 * The transport taken (SPEC §4 `steps[].transport`): SSM Run Command, or SSH by EC2 Instance
 * Connect, direct or through an endpoint tunnel. The other two transport types: what the workspace
 * asks for (`Transport`) and the route chosen for it (delivery/transport.ts `DeliveryRoute`).
 */
export type TransportTaken = z.infer<typeof contract.TransportTaken>;
/** One retry of a step: the error name its previous attempt failed with (`Interrupted`: it never reported). */
export type StepRetry = z.infer<typeof contract.StepRetry>;
/** How one workflow step went: one per Task state the operation entered (ops contract). */
export type StepRecord = z.infer<typeof contract.StepRecord>;
export type Operation = z.infer<typeof contract.Operation>;
/** What an install would change (SPEC §9 plans). */
export type Plan = z.infer<typeof contract.Plan>;
/** What a verify found on the host, held against the records (SPEC §12). */
export type Verification = z.infer<typeof contract.Verification>;
export type VerifiedPlugin = z.infer<typeof contract.VerifiedPlugin>;
/** What a repair changed (SPEC §12). */
export type Repair = z.infer<typeof contract.Repair>;
/** One plugin of the curated registry, as the listings show it. */
export type RegistryEntry = z.infer<typeof contract.RegistryEntry>;

/** What Stage puts on the workflow state for the later steps. */
export interface StagedPlugin {
  bucket: string;
  key: string;
  name: string;
  version: string | null;
  sha256: string;
  skills: string[];
  runtimes: string[];
  fileCount: number;
  bytes: number;
  warnings: string[];
  /**
   * What a signature of this plugin signs and its root plugin.sig, if it had one (SPEC §11; the
   * signature is cut at its size limit, `size` is the whole): the download route judges them
   * against the org's trust. Stage judges them itself, and does not pass them down the workflow.
   */
  signed?: { statement: string; signature?: { armor: string; size: number } | undefined };
}

/** One file a revision delivered (SPEC §9): its path under the plugin dir, its sha256 and size. */
export interface RevisionFile {
  path: string;
  sha256: string;
  size: number;
}

/** Who signed a plugin, as Stage verified it against the org's trust (SPEC §11). */
export interface Signer {
  principal: string;
  fingerprint: string;
}

export type RevisionStatus = 'active' | 'superseded' | 'rolled_back' | 'removed';

/** One delivered version of a plugin on a workspace (`plugin_revisions`, SPEC §9). */
export interface PluginRevision {
  workspaceId: string;
  plugin: string;
  revision: number;
  version: string | null;
  source: string;
  sha256: string;
  skills: string[];
  runtimes: string[];
  files: RevisionFile[];
  signer: Signer | null;
  operationId: string;
  installedAt: string;
  status: RevisionStatus;
  /** Whether its tarball is among the kept ones (`revisions/<sha256>.tar.gz`). */
  tarballKept: boolean;
}

/** A plugin a workspace has, as the platform recorded it (`workspace_plugins`). */
export interface InstalledPlugin {
  workspaceId: string;
  name: string;
  version: string | null;
  source: string;
  sha256: string;
  skills: string[];
  runtimes: string[];
  installedAt: string;
  updatedAt: string;
  uninstallAt: string | null;
  /** `push`: delivered by the workflow; `pull`: reported by an external workspace that pulled it. */
  installedVia: InstalledVia;
}

export type InstalledVia = 'push' | 'pull';

export type InstalledInput = Omit<InstalledPlugin, 'installedAt' | 'updatedAt' | 'installedVia'> & { installedVia?: InstalledVia };

/** What a step's end records besides its status: how it reached the host and, on failure, why. */
export interface StepDetails {
  transport?: StepRecord['transport'];
  commandId?: string;
  sshHost?: string;
  error?: { code: string; message: string };
  outputTail?: string[];
  /** The thrown error's name (`AwsThrottled`), kept for the retry entry of the next attempt. */
  errorName?: string;
}

/** What an org's allowlist says of a plugin from an origin: facts, judged by plugins/allowlist-policy.ts. */
export interface AllowlistMatch {
  /** Whether the org has a (non-empty) allowlist at all. */
  restricted: boolean;
  listed: boolean;
  /** The entry's pin, when it has one, and whether the origin matches it. */
  pin: string | null;
  pinMatches: boolean;
}
