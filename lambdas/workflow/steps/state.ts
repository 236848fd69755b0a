import * as z from '../../shared/zod.js';
import { OperationKind, PLUGIN_NAME_RE, Transport, type StagedPlugin, type TransportTaken, type Workspace } from '../../shared/types.js';

/**
 * The JSON document that flows through the state machine (JSONPath, ResultPath = $). The API
 * starts it `accepted`; each step parses its input with its own schema below and returns the
 * document one `phase` further:
 *
 *   install:   accepted ─Stage▶ staged ─CheckAllowlist▶ staged ─Deliver▶ delivered ─Restart▶ restarted ─VerifyHealth▶ verified
 *   rollback:  accepted ─Stage▶ staged ─Deliver▶ delivered ─Restart▶ restarted ─VerifyHealth▶ verified
 *   plan:      accepted ─Stage▶ staged ─CheckAllowlist▶ staged ─Plan▶ (the operation is closed)
 *              (Stage and CheckAllowlist record what would refuse the install as `blockedBy`)
 *   uninstall: accepted ─Remove▶ removed ─Restart▶ restarted (VerifyHealth passes it on: uninstall is not gated)
 *
 * so RecordFailure reads from `phase` how far the host got.
 */

const pluginName = z.string().check(z.regex(PLUGIN_NAME_RE, 'must be a plugin name'));

const WorkspaceState = z.object({
  id: z.string().check(z.minLength(1)),
  orgId: z.string().check(z.minLength(1)),
  runtime: z.string(),
  instanceId: z.nullable(z.string()),
  transport: Transport,
  status: z.string(),
}) satisfies z.ZodMiniType<Workspace>;

const StagedPluginState = z.object({
  bucket: z.string().check(z.minLength(1)),
  key: z.string().check(z.minLength(1)),
  name: pluginName,
  version: z.nullable(z.string()),
  sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  skills: z.array(z.string()),
  runtimes: z.array(z.string()),
  fileCount: z.number().check(z.int(), z.nonnegative()),
  bytes: z.number().check(z.int(), z.nonnegative()),
  warnings: z.array(z.string()),
}) satisfies z.ZodMiniType<StagedPlugin>;

/** Exactly what the API sends to start an execution; `phase` is absent there. */
const Accepted = z.object({
  phase: z._default(z.literal('accepted'), 'accepted'),
  operationId: z.string().check(z.minLength(1)),
  /** When the API accepted the request: the fetch timeout counts from here across retries. */
  requestedAt: z.optional(z.iso.datetime({ offset: true })),
  kind: OperationKind,
  workspace: WorkspaceState,
  /** install: the raw source; uninstall: the installed plugin's source, or null */
  source: z.nullable(z.string()),
  /** uninstall: the plugin to remove; install: filled by Stage */
  plugin: z.nullable(z.string()),
  expectedSha256: z.nullable(z.string()),
  restart: z.boolean(),
  uninstallAt: z.nullable(z.string()),
  /** install: whether the request allows replacing an installed plugin of another origin */
  replace: z._default(z.boolean(), false),
  /** install, rollback: run the health gate after a restart (SPEC §9; `"healthCheck": false` skips it) */
  healthCheck: z._default(z.boolean(), true),
  /** rollback: the revision to put back */
  revision: z.optional(z.int().check(z.gte(1))),
  /** plan: the error code Stage or CheckAllowlist found the install would meet (`allowed: false`) */
  blockedBy: z.optional(z.string()),
  /** install, plan: the rollout that started it; Stage then delivers the rollout's one staged tarball (SPEC §10) */
  rolloutId: z.optional(z.string().check(z.minLength(1))),
  /** install, plan: the request's `"signature"` (SPEC §11), judged by Stage instead of a root plugin.sig */
  signature: z.optional(z.string()),
});

/** The kinds that stage a plugin: Stage's input (a rollback names its revision and that revision's source and sha256). */
export const AcceptedInstall = z.extend(Accepted, { kind: z.enum(['install', 'rollback', 'plan']), source: z.string().check(z.minLength(1)) });
/** Remove's input. */
export const AcceptedUninstall = z.extend(Accepted, { kind: z.literal('uninstall'), plugin: pluginName });

/** CheckAllowlist's and Deliver's input: the plugin is in the staging bucket. */
export const Staged = z.extend(AcceptedInstall, { phase: z.literal('staged'), plugin: pluginName, staged: StagedPluginState });

/** The host has the new plugin. */
export const Delivered = z.extend(Staged, {
  phase: z.literal('delivered'),
  /** `eic` is what the delivery layer said before it told direct and endpoint EC2 Instance Connect apart. */
  delivered: z.object({
    // `eic`, as executions started before `eic-direct` was named may still carry it, is that.
    transport: z.pipe(
      z.enum(['ssm', 'eic-direct', 'eic-endpoint', 'eic']),
      z.transform((t): TransportTaken => (t === 'eic' ? 'eic-direct' : t)),
    ),
    changedOnlySkillDocs: z.boolean(),
  }),
});

/** The plugin is gone from the host. */
export const Removed = z.extend(AcceptedUninstall, { phase: z.literal('removed') });

/** Restart's input: the host changed. */
export const HostChanged = z.discriminatedUnion('phase', [Delivered, Removed]);

/** VerifyHealth's input: the Restart step ended, having restarted the workspace or decided it need not. */
export const Restarted = z.discriminatedUnion('kind', [
  z.extend(Delivered, { phase: z.literal('restarted'), restarted: z.boolean() }),
  z.extend(Removed, { phase: z.literal('restarted'), restarted: z.boolean() }),
]);

/** What the health gate found (SPEC §9); null: the gate did not run (no restart, or `healthCheck: false`). */
export const HealthVerdictState = z.object({
  healthy: z.boolean(),
  /** Unhealthy: whether the host put back what was there before. */
  rolledBack: z.nullable(z.boolean()),
  /** The check's last output lines. */
  output: z.array(z.string()),
  checks: z.number().check(z.int(), z.nonnegative()),
});

/** Record's input after a delivery: the gate's verdict is in. */
export const Verified = z.extend(Delivered, { phase: z.literal('verified'), restarted: z.boolean(), health: z.nullable(HealthVerdictState) });

/** Record's input: a verified delivery, or an uninstall that restarted (not gated). */
export const Settled = z.union([Verified, Restarted]);

/** Any phase of the document. */
export const WorkflowDocument = z.discriminatedUnion('phase', [Accepted, Staged, Delivered, Removed, Restarted, Verified]);

/** What a Catch puts at `$.error`: Step Functions' `{Error, Cause}` of the failed Task. */
export const StepFailure = z.object({ Error: z.optional(z.string()), Cause: z.optional(z.string()) });

export type AcceptedState = z.input<typeof Accepted>;
export type StagedState = z.output<typeof Staged>;
export type DeliveredState = z.output<typeof Delivered>;
export type RemovedState = z.output<typeof Removed>;
export type RestartedState = z.output<typeof Restarted>;
export type VerifiedState = z.output<typeof Verified>;
export type SettledState = z.output<typeof Settled>;
export type WorkflowPhase = z.output<typeof WorkflowDocument>;

/** The document on the wire, in any phase; set by a Catch, `error` says why a step failed. */
export type WorkflowState = z.input<typeof WorkflowDocument> & { error?: z.infer<typeof StepFailure> };
