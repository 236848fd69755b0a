import * as z from './zod.js';

/** SPEC §2: plugin (and skill) names. */
export const PLUGIN_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,127}$/;
export const PluginName = z.string().check(z.regex(PLUGIN_NAME_RE)).brand<'PluginName'>();
export type PluginName = z.infer<typeof PluginName>;

export const ContentHash = z
  .string()
  .check(z.regex(/^[0-9a-f]{64}$/))
  .brand<'ContentHash'>();
export type ContentHash = z.infer<typeof ContentHash>;

/** SPEC §5: only real instance ids are delivered to. */
export const INSTANCE_ID_RE = /^i-[0-9a-f]{8,17}$/;

export const Transport = z.enum(['ssm', 'eic', 'auto']);
export type Transport = z.infer<typeof Transport>;

export const OperationKind = z.enum(['install', 'uninstall']);
export type OperationKind = z.infer<typeof OperationKind>;

export const OperationStatus = z.enum(['RUNNING', 'SUCCEEDED', 'FAILED']);
export type OperationStatus = z.infer<typeof OperationStatus>;

export interface Workspace {
  id: string;
  orgId: string;
  runtime: string;
  instanceId: string | null;
  transport: Transport;
  status: string;
}

/**
 * The transport taken (SPEC §4 `steps[].transport`): SSM Run Command, or SSH by EC2 Instance
 * Connect, direct or through an endpoint tunnel. The other two transport types: what the workspace
 * asks for (`Transport`) and the route chosen for it (delivery/transport.ts `DeliveryRoute`).
 */
export type TransportTaken = 'ssm' | 'eic-direct' | 'eic-endpoint';

/** One retry of a step: the error name its previous attempt failed with (`Interrupted`: it never reported). */
export interface StepRetry {
  error: string;
  at: string;
}

/** How one workflow step went: one per Task state the operation entered (ops contract). */
export interface StepRecord {
  name: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'SKIPPED';
  /** When the first attempt started; `endedAt` is when the last one ended. */
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  /** 1 + the retries. */
  attempts: number;
  retries: StepRetry[];
  transport?: TransportTaken;
  commandId?: string;
  sshHost?: string;
  error?: { code: string; message: string };
  /** The host's last output lines (at most 20 of at most 200 characters), secrets redacted. */
  outputTail?: string[];
}

export interface Operation {
  operationId: string;
  workspaceId: string;
  orgId: string;
  kind: OperationKind;
  status: OperationStatus;
  plugin: string | null;
  source: string | null;
  sha256: string | null;
  executionArn: string | null;
  /** The Step Functions execution's name: `install-<workspace>-<plugin>-<8 hex>`. */
  executionName: string | null;
  /** The AWS console page of the execution; null on the local stack. */
  consoleUrl: string | null;
  createdAt: string;
  updatedAt: string;
  steps: StepRecord[];
  warnings: string[];
  error?: { code: string; message: string; httpStatus: number };
}

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
