import * as z from 'zod';

/** SPEC §2: plugin (and skill) names. */
export const PLUGIN_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,127}$/;
export const PluginName = z.string().regex(PLUGIN_NAME_RE).brand<'PluginName'>();
export type PluginName = z.infer<typeof PluginName>;

export const ContentHash = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
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

export interface StepRecord {
  name: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'SKIPPED';
  startedAt: string;
  endedAt?: string;
}

export interface Operation {
  operationId: string;
  workspaceId: string;
  kind: OperationKind;
  status: OperationStatus;
  plugin: string | null;
  source: string | null;
  sha256: string | null;
  executionArn: string | null;
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

/**
 * The state machine's JSON document, one schema per phase (workflow/steps/state.ts); the API
 * starts an execution with an `AcceptedState`.
 */
export type { AcceptedState, WorkflowState } from '../workflow/steps/state.js';
