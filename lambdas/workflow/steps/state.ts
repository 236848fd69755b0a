import * as z from '../../shared/zod.js';
import { OperationKind, PLUGIN_NAME_RE, RepairMode, Transport, type StagedPlugin, type TransportTaken, type Workspace } from '../../shared/types.js';

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
 *   verify:    accepted ─Inventory▶ (the operation is closed)
 *   repair:    accepted ─Inventory▶ inventoried ─Stage▶ prepared ─Repair▶ repaired ─Restart▶ restarted ─VerifyHealth▶ verified
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
  /** repair: what to mend (SPEC §12), and optionally only these plugins */
  repair: z.optional(z.object({ mode: RepairMode, plugins: z.optional(z.array(pluginName)) })),
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

/** Inventory's input: a verify, or a repair about to find what to mend (SPEC §12). */
export const AcceptedDrift = z.extend(Accepted, { kind: z.enum(['verify', 'repair']) });

/** A plugin a reinstall delivers again: its active revision. */
const ReinstallTarget = z.object({
  name: pluginName,
  revision: z.int().check(z.gte(1)),
  version: z.nullable(z.string()),
  source: z.string(),
  sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  skills: z.array(z.string()),
  runtimes: z.array(z.string()),
});

/** A repair once its inventory, taken under the lease, named what its mode mends (the whole inventory is on the operation). */
export const Inventoried = z.extend(Accepted, {
  phase: z.literal('inventoried'),
  kind: z.literal('repair'),
  repair: z.object({ mode: RepairMode, plugins: z.optional(z.array(pluginName)) }),
  targets: z.object({
    /** reinstall: modified and missing plugins with an active revision. */
    reinstall: z.array(ReinstallTarget),
    /** adopt: modified and unknown plugins, with the content hash the inventory found. */
    adopt: z.array(z.object({ name: pluginName, sha256: z.string() })),
    /** clean: debris paths, relative to plugins/. */
    clean: z.array(z.string()),
  }),
});

/** Repair's input: every tarball a reinstall delivers is kept (Stage staged again one that was not). */
export const Prepared = z.extend(Inventoried, { phase: z.literal('prepared') });

/** What a repair changed; Restart and VerifyHealth follow, and act when it delivered something. */
export const Repaired = z.extend(Prepared, {
  phase: z.literal('repaired'),
  repaired: z.object({
    plugins: z.array(z.object({ name: pluginName, action: z.enum(['reinstalled', 'adopted']), sha256: z.string(), revision: z.optional(z.int()) })),
    debris: z.array(z.string()),
    /** reinstall: every plugin it delivered differed only in SKILL.md contents, so the runtime hot-reloads them (SPEC §5). */
    changedOnlySkillDocs: z._default(z.boolean(), false),
  }),
});

/** Restart's input: the host changed (or a repair that may have changed it). */
export const HostChanged = z.discriminatedUnion('phase', [Delivered, Removed, Repaired]);

/** VerifyHealth's input: the Restart step ended, having restarted the workspace or decided it need not. */
export const Restarted = z.discriminatedUnion('kind', [
  z.extend(Delivered, { phase: z.literal('restarted'), restarted: z.boolean() }),
  z.extend(Removed, { phase: z.literal('restarted'), restarted: z.boolean() }),
  z.extend(Repaired, { phase: z.literal('restarted'), restarted: z.boolean() }),
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

/** Record's input after a repair: the gate's verdict is in (null: nothing was delivered, or the gate was skipped). */
export const RepairVerified = z.extend(Repaired, { phase: z.literal('verified'), restarted: z.boolean(), health: z.nullable(HealthVerdictState) });

/** Record's input: a verified delivery or repair, or an uninstall that restarted (not gated). */
export const Settled = z.union([Verified, RepairVerified, Restarted]);

/** Any phase of the document. */
export const WorkflowDocument = z.discriminatedUnion('phase', [
  Accepted,
  Staged,
  Delivered,
  Removed,
  Restarted,
  z.discriminatedUnion('kind', [Verified, RepairVerified]),
  Inventoried,
  Prepared,
  Repaired,
]);

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
export type InventoriedState = z.output<typeof Inventoried>;
export type PreparedState = z.output<typeof Prepared>;
export type RepairedState = z.output<typeof Repaired>;
export type RepairVerifiedState = z.output<typeof RepairVerified>;

/** The document on the wire, in any phase; set by a Catch, `error` says why a step failed. */
export type WorkflowState = z.input<typeof WorkflowDocument> & { error?: z.infer<typeof StepFailure> };
