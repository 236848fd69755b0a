import * as z from './zod.js';
import type * as contract from '../api/contract/responses.js';

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

/** The bounds of `GET /operations?limit=`: a page holds at most this many operations. */
export const OPERATIONS_PAGE_MAX = 100;

/*
 * The API's answers are zod schemas in api/contract/responses.ts, the one definition the OpenAPI
 * document, the route handlers and clients share. The service takes its types from there, by type
 * only: no Lambda builds those schemas at start-up.
 */
export type Workspace = z.infer<typeof contract.Workspace>;
/** How a step reached the workspace's host (SPEC §4): SSM Run Command, or SSH by EC2 Instance Connect, direct or through an endpoint. */
export type StepTransport = z.infer<typeof contract.StepTransport>;
/** One retry of a step: the error name its previous attempt failed with (`Interrupted`: it never reported). */
export type StepRetry = z.infer<typeof contract.StepRetry>;
/** How one workflow step went: one per Task state the operation entered (ops contract). */
export type StepRecord = z.infer<typeof contract.StepRecord>;
export type Operation = z.infer<typeof contract.Operation>;
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
}

/**
 * The state machine's JSON document, one schema per phase (workflow/steps/state.ts); the API
 * starts an execution with an `AcceptedState`.
 */
export type { AcceptedState, WorkflowState } from '../workflow/steps/state.js';
