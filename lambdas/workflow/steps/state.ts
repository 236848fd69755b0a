import * as z from 'zod';
import { OperationKind, PLUGIN_NAME_RE, Transport, type StagedPlugin, type Workspace } from '../../shared/types.js';

/**
 * The JSON document that flows through the state machine (JSONPath, ResultPath = $). The API
 * starts it `accepted`; each step parses its input with its own schema below and returns the
 * document one `phase` further:
 *
 *   install:   accepted ─Stage▶ staged ─CheckAllowlist▶ staged ─Deliver▶ delivered ─Restart▶ restarted
 *   uninstall: accepted ─Remove▶ removed ─Restart▶ restarted
 *
 * so RecordFailure reads from `phase` how far the host got.
 */

const pluginName = z.string().regex(PLUGIN_NAME_RE, 'must be a plugin name');

const WorkspaceState = z.object({
  id: z.string().min(1),
  orgId: z.string().min(1),
  runtime: z.string(),
  instanceId: z.string().nullable(),
  transport: Transport,
  status: z.string(),
}) satisfies z.ZodType<Workspace>;

const StagedPluginState = z.object({
  bucket: z.string().min(1),
  key: z.string().min(1),
  name: pluginName,
  version: z.string().nullable(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  skills: z.array(z.string()),
  runtimes: z.array(z.string()),
  fileCount: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  warnings: z.array(z.string()),
}) satisfies z.ZodType<StagedPlugin>;

/** Exactly what the API sends to start an execution; `phase` is absent there. */
const Accepted = z.object({
  phase: z.literal('accepted').default('accepted'),
  operationId: z.string().min(1),
  /** When the API accepted the request: the fetch timeout counts from here across retries. */
  requestedAt: z.iso.datetime({ offset: true }).optional(),
  kind: OperationKind,
  workspace: WorkspaceState,
  /** install: the raw source; uninstall: the installed plugin's source, or null */
  source: z.string().nullable(),
  /** uninstall: the plugin to remove; install: filled by Stage */
  plugin: z.string().nullable(),
  expectedSha256: z.string().nullable(),
  restart: z.boolean(),
  uninstallAt: z.string().nullable(),
  /** install: whether the request allows replacing an installed plugin of another origin */
  replace: z.boolean().default(false),
});

/** Stage's input. */
export const AcceptedInstall = Accepted.extend({ kind: z.literal('install'), source: z.string().min(1) });
/** Remove's input. */
export const AcceptedUninstall = Accepted.extend({ kind: z.literal('uninstall'), plugin: pluginName });

/** CheckAllowlist's and Deliver's input: the plugin is in the staging bucket. */
export const Staged = AcceptedInstall.extend({ phase: z.literal('staged'), plugin: pluginName, staged: StagedPluginState });

/** The host has the new plugin. */
export const Delivered = Staged.extend({
  phase: z.literal('delivered'),
  /** `eic` is what the delivery layer said before it told direct and endpoint EC2 Instance Connect apart. */
  delivered: z.object({ transport: z.enum(['ssm', 'eic-direct', 'eic-endpoint', 'eic']), changedOnlySkillDocs: z.boolean() }),
});

/** The plugin is gone from the host. */
export const Removed = AcceptedUninstall.extend({ phase: z.literal('removed') });

/** Restart's input: the host changed. */
export const HostChanged = z.discriminatedUnion('phase', [Delivered, Removed]);

/** Record's input: the Restart step ended, having restarted the workspace or decided it need not. */
export const Restarted = z.discriminatedUnion('kind', [
  Delivered.extend({ phase: z.literal('restarted'), restarted: z.boolean() }),
  Removed.extend({ phase: z.literal('restarted'), restarted: z.boolean() }),
]);

/** Any phase of the document. */
export const WorkflowDocument = z.discriminatedUnion('phase', [Accepted, Staged, Delivered, Removed, Restarted]);

/** What a Catch puts at `$.error`: Step Functions' `{Error, Cause}` of the failed Task. */
export const StepFailure = z.object({ Error: z.string().optional(), Cause: z.string().optional() });

export type AcceptedState = z.input<typeof Accepted>;
export type StagedState = z.output<typeof Staged>;
export type DeliveredState = z.output<typeof Delivered>;
export type RemovedState = z.output<typeof Removed>;
export type RestartedState = z.output<typeof Restarted>;
export type WorkflowPhase = z.output<typeof WorkflowDocument>;

/** The document on the wire, in any phase; set by a Catch, `error` says why a step failed. */
export type WorkflowState = z.input<typeof WorkflowDocument> & { error?: z.infer<typeof StepFailure> };
