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

/** An RFC 3339 time with its offset, as every answer writes times (`toISOString()`: UTC, `Z`). */
const Timestamp = z.iso.datetime({ offset: true });

/** The bounds of `GET /operations?limit=`: a page holds at most this many operations. */
export const OPERATIONS_PAGE_MAX = 100;

/*
 * The API's own shapes, one definition for the service, the OpenAPI document and clients (the
 * SDK imports them): zod schemas, each TypeScript type inferred from its schema.
 */

export const Workspace = z.object({
  id: z.string(),
  orgId: z.string(),
  runtime: z.string(),
  instanceId: z.nullable(z.string()),
  transport: Transport,
  status: z.string(),
});
export type Workspace = z.infer<typeof Workspace>;

/** How a step reached the workspace's host (SPEC §4): SSM Run Command, or SSH by EC2 Instance Connect, direct or through an endpoint. */
export const StepTransport = z.enum(['ssm', 'eic-direct', 'eic-endpoint']);
export type StepTransport = z.infer<typeof StepTransport>;

/** One retry of a step: the error name its previous attempt failed with (`Interrupted`: it never reported). */
export const StepRetry = z.object({ error: z.string(), at: Timestamp });
export type StepRetry = z.infer<typeof StepRetry>;

/** How one workflow step went: one per Task state the operation entered (ops contract). */
export const StepRecord = z.object({
  name: z.string(),
  status: z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'SKIPPED']),
  /** When the first attempt started; `endedAt` is when the last one ended. */
  startedAt: Timestamp,
  endedAt: z.optional(Timestamp),
  durationMs: z.optional(z.number()),
  /** 1 + the retries. */
  attempts: z.int().check(z.gte(1)),
  retries: z.array(StepRetry),
  transport: z.optional(StepTransport),
  commandId: z.optional(z.string()),
  sshHost: z.optional(z.string()),
  error: z.optional(z.object({ code: z.string(), message: z.string() })),
  /** The host's last output lines (at most 20 of at most 200 characters), secrets redacted. */
  outputTail: z.optional(z.array(z.string())),
});
export type StepRecord = z.infer<typeof StepRecord>;

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
  error: z.optional(z.object({ code: z.string(), message: z.string(), httpStatus: z.int() })),
});
export type Operation = z.infer<typeof Operation>;

/** One plugin of the curated registry, as the listings show it. */
export const RegistryEntry = z.object({
  name: z.string(),
  version: z.nullable(z.string()),
  description: z.nullable(z.string()),
  author: z.nullable(z.string()),
  tags: z.array(z.string()),
  skills: z.array(z.string()),
  runtimes: z.array(z.string()),
});
export type RegistryEntry = z.infer<typeof RegistryEntry>;

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

/**
 * The state machine's JSON document, one schema per phase (workflow/steps/state.ts); the API
 * starts an execution with an `AcceptedState`.
 */
export type { AcceptedState, WorkflowState } from '../workflow/steps/state.js';
