import type { Db, Queryable } from './db.js';
import { query, transaction } from './db.js';
import type { ErrorRecord } from '../shared/errors.js';
import type { FailureMode, RateValue, TargetStatus } from '../rollouts/policy.js';

/**
 * `rollouts` and their ledger `rollout_targets` (SPEC §10). The driver moves a target from pending
 * to running (with its operation) and from running to done by reading the operation's end, each in
 * one statement, so a driver that crashed and started again finds the ledger as it left it.
 */

export type RolloutStatus = 'RUNNING' | 'SUCCEEDED' | 'STOPPED' | 'CANCELLED' | 'FAILED';
export type RolloutKind = 'install' | 'rollback';

export interface RolloutTarget {
  position: number;
  workspaceId: string;
  status: TargetStatus;
  operationId: string | null;
  reason: string | null;
  error: { code: string; message: string } | null;
  /** A dry-run rollout's plan for this workspace (SPEC §9). */
  plan: unknown;
  /** A rollback rollout: the revision to put back; null: the plugin goes. */
  revision: number | null;
  startedAt: string | null;
  endedAt: string | null;
}

export interface Rollout {
  id: string;
  orgId: string;
  kind: RolloutKind;
  status: RolloutStatus;
  plugin: string | null;
  source: string | null;
  sha256: string | null;
  /** The request as accepted: what each install asks for (restart, replace, healthCheck, signature, dryRun). */
  request: Record<string, unknown>;
  maxConcurrency: RateValue;
  maxErrors: RateValue;
  canary: number;
  failureMode: FailureMode;
  cancelRequested: boolean;
  parentRolloutId: string | null;
  error: ErrorRecord | null;
  actorPrefix: string | null;
  createdAt: string;
  updatedAt: string;
}

interface RolloutRow {
  id: string;
  org_id: string;
  kind: RolloutKind;
  status: RolloutStatus;
  plugin: string | null;
  source: string | null;
  sha256: string | null;
  request: Record<string, unknown>;
  max_concurrency: string;
  max_errors: string;
  canary: number;
  failure_mode: FailureMode;
  cancel_requested: boolean;
  parent_rollout_id: string | null;
  error: ErrorRecord | null;
  actor_prefix: string | null;
  created_at: Date;
  updated_at: Date;
}

interface TargetRow {
  position: number;
  workspace_id: string;
  status: TargetStatus;
  operation_id: string | null;
  reason: string | null;
  error: { code: string; message: string } | null;
  plan: unknown;
  revision: number | null;
  started_at: Date | null;
  ended_at: Date | null;
}

/** `10` is stored as `10`, `10%` as `10%`. */
const rateOut = (text: string): RateValue => (text.endsWith('%') ? (text as `${number}%`) : Number(text));

const toRollout = (r: RolloutRow): Rollout => ({
  id: r.id,
  orgId: r.org_id,
  kind: r.kind,
  status: r.status,
  plugin: r.plugin,
  source: r.source,
  sha256: r.sha256,
  request: r.request,
  maxConcurrency: rateOut(r.max_concurrency),
  maxErrors: rateOut(r.max_errors),
  canary: r.canary,
  failureMode: r.failure_mode,
  cancelRequested: r.cancel_requested,
  parentRolloutId: r.parent_rollout_id,
  error: r.error,
  actorPrefix: r.actor_prefix,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

const toTarget = (r: TargetRow): RolloutTarget => ({
  position: r.position,
  workspaceId: r.workspace_id,
  status: r.status,
  operationId: r.operation_id,
  reason: r.reason,
  error: r.error,
  plan: r.plan,
  revision: r.revision,
  startedAt: r.started_at?.toISOString() ?? null,
  endedAt: r.ended_at?.toISOString() ?? null,
});

/** What a new rollout is made of: the accepted request's fields of a Rollout, plus its ledger. */
export type NewRollout = Pick<
  Rollout,
  | 'id'
  | 'orgId'
  | 'kind'
  | 'plugin'
  | 'source'
  | 'sha256'
  | 'request'
  | 'maxConcurrency'
  | 'maxErrors'
  | 'canary'
  | 'failureMode'
  | 'parentRolloutId'
  | 'actorPrefix'
> & {
  /** In workspace-id order; a target skipped from the start says why; a rollback's names the revision to put back (null: uninstall). */
  targets: Array<{ workspaceId: string; status: 'pending' | 'skipped'; reason?: string; revision?: number | null }>;
};

/** Records a RUNNING rollout and its whole ledger in one transaction. */
export async function createRollout(db: Db, r: NewRollout): Promise<Rollout> {
  return transaction(db, async (client) => {
    const [row] = await query<RolloutRow>(
      client,
      `INSERT INTO rollouts (id, org_id, kind, status, plugin, source, sha256, request, max_concurrency, max_errors, canary, failure_mode, parent_rollout_id, actor_prefix)
       VALUES ($1, $2, $3, 'RUNNING', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *`,
      [
        r.id,
        r.orgId,
        r.kind,
        r.plugin,
        r.source,
        r.sha256,
        JSON.stringify(r.request),
        String(r.maxConcurrency),
        String(r.maxErrors),
        r.canary,
        r.failureMode,
        r.parentRolloutId,
        r.actorPrefix,
      ],
    );
    await query(
      client,
      `INSERT INTO rollout_targets (rollout_id, position, workspace_id, status, reason, revision)
       SELECT $1, t.position - 1, t.workspace_id, t.status, t.reason, t.revision
       FROM unnest($2::text[], $3::text[], $4::text[], $5::int[]) WITH ORDINALITY AS t(workspace_id, status, reason, revision, position)`,
      [
        r.id,
        r.targets.map((t) => t.workspaceId),
        r.targets.map((t) => t.status),
        r.targets.map((t) => t.reason ?? null),
        r.targets.map((t) => t.revision ?? null),
      ],
    );
    return toRollout(row as RolloutRow);
  });
}

export async function getRollout(db: Queryable, id: string): Promise<Rollout | null> {
  const rows = await query<RolloutRow>(db, 'SELECT * FROM rollouts WHERE id = $1', [id]);
  return rows[0] ? toRollout(rows[0]) : null;
}

/** The org's rollouts, newest first. */
export async function listRollouts(db: Queryable, orgId: string, limit: number): Promise<Rollout[]> {
  const rows = await query<RolloutRow>(db, 'SELECT * FROM rollouts WHERE org_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2', [orgId, limit]);
  return rows.map(toRollout);
}

/** Every org's rollouts, newest first (the ops view). */
export async function listAllRollouts(db: Queryable, limit: number): Promise<Rollout[]> {
  const rows = await query<RolloutRow>(db, 'SELECT * FROM rollouts ORDER BY created_at DESC, id DESC LIMIT $1', [limit]);
  return rows.map(toRollout);
}

/** The ledger in workspace-id order. */
export async function rolloutTargets(db: Queryable, id: string): Promise<RolloutTarget[]> {
  const rows = await query<TargetRow>(db, 'SELECT * FROM rollout_targets WHERE rollout_id = $1 ORDER BY position', [id]);
  return rows.map(toTarget);
}

export type RolloutCounts = Record<'total' | 'pending' | 'running' | 'succeeded' | 'failed' | 'unreachable' | 'skipped' | 'rolledBack', number>;

const COUNTS = `count(*)::int AS total,
       count(*) FILTER (WHERE status = 'pending')::int AS pending,
       count(*) FILTER (WHERE status = 'running')::int AS running,
       count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded,
       count(*) FILTER (WHERE status = 'failed')::int AS failed,
       count(*) FILTER (WHERE status = 'failed' AND error->>'code' = 'workspace_unreachable')::int AS unreachable,
       count(*) FILTER (WHERE status = 'skipped')::int AS skipped,
       count(*) FILTER (WHERE status = 'rolled_back')::int AS "rolledBack"`;

export async function rolloutCounts(db: Queryable, id: string): Promise<RolloutCounts> {
  const [row] = await query<RolloutCounts>(db, `SELECT ${COUNTS} FROM rollout_targets WHERE rollout_id = $1`, [id]);
  return row as RolloutCounts;
}

/** The counts of several rollouts in one round trip (a listing), by rollout id. */
export async function rolloutCountsOf(db: Queryable, ids: readonly string[]): Promise<Map<string, RolloutCounts>> {
  const rows = await query<RolloutCounts & { rollout_id: string }>(
    db,
    `SELECT rollout_id, ${COUNTS} FROM rollout_targets WHERE rollout_id = ANY($1::text[]) GROUP BY rollout_id`,
    [ids],
  );
  return new Map(rows.map(({ rollout_id, ...counts }) => [rollout_id, counts]));
}

/** A target skipped once the plugin is known (its runtime, or that sha256 already active there). */
export async function skipTarget(db: Queryable, id: string, position: number, reason: string): Promise<void> {
  await query(db, `UPDATE rollout_targets SET status = 'skipped', reason = $3 WHERE rollout_id = $1 AND position = $2 AND status = 'pending'`, [
    id,
    position,
    reason,
  ]);
}

/** The target's install was started as `operationId` (idempotent: a pending target only). */
export async function markTargetStarted(db: Queryable, id: string, position: number, operationId: string): Promise<void> {
  await query(
    db,
    `UPDATE rollout_targets SET status = 'running', operation_id = $3, started_at = now() WHERE rollout_id = $1 AND position = $2 AND status = 'pending'`,
    [id, position, operationId],
  );
}

/** Running targets whose operation ended take its outcome, in one statement; returns how many did. */
export async function settleTargets(db: Queryable, id: string): Promise<number> {
  const rows = await query(
    db,
    `UPDATE rollout_targets t SET
       status = CASE WHEN o.status = 'SUCCEEDED' THEN 'succeeded' ELSE 'failed' END,
       error = CASE WHEN o.status = 'FAILED' THEN jsonb_build_object('code', o.error->>'code', 'message', o.error->>'message') END,
       ended_at = o.updated_at,
       plan = o.plan
     FROM plugin_operations o
     WHERE t.rollout_id = $1 AND t.status = 'running' AND o.id = t.operation_id AND o.status <> 'RUNNING'
     RETURNING 1`,
    [id],
  );
  return rows.length;
}

/** The workspaces a rollback rollout put back read `rolled_back` in the rollout it undid. */
export async function markParentRolledBack(db: Queryable, id: string): Promise<void> {
  await query(
    db,
    `UPDATE rollout_targets p SET status = 'rolled_back'
     FROM rollouts r, rollout_targets c
     WHERE r.id = $1 AND r.parent_rollout_id IS NOT NULL AND p.rollout_id = r.parent_rollout_id
       AND c.rollout_id = r.id AND c.status = 'succeeded' AND c.workspace_id = p.workspace_id AND p.status = 'succeeded'`,
    [id],
  );
}

/** Closes a RUNNING rollout (compare-and-set); false when it was no longer running. */
export async function finishRollout(db: Queryable, id: string, status: Exclude<RolloutStatus, 'RUNNING'>, error?: ErrorRecord): Promise<boolean> {
  const rows = await query(db, `UPDATE rollouts SET status = $2, error = $3, updated_at = now() WHERE id = $1 AND status = 'RUNNING' RETURNING 1`, [
    id,
    status,
    error ? JSON.stringify(error) : null,
  ]);
  return rows.length > 0;
}

/** What the single Stage found, and the plugin's name and hash once known. */
export async function setRolloutStaged(db: Queryable, id: string, staged: { plugin: string; sha256: string; facts: unknown }): Promise<void> {
  await query(db, 'UPDATE rollouts SET plugin = $2, sha256 = $3, staged = $4, updated_at = now() WHERE id = $1', [
    id,
    staged.plugin,
    staged.sha256,
    JSON.stringify(staged.facts),
  ]);
}

/** Asks a running rollout to start nothing more; false when it already ended. */
export async function requestCancel(db: Queryable, id: string): Promise<boolean> {
  const rows = await query(db, `UPDATE rollouts SET cancel_requested = true, updated_at = now() WHERE id = $1 AND status = 'RUNNING' RETURNING 1`, [id]);
  return rows.length > 0;
}

/** New rate controls from the next start on (as Step Functions' UpdateMapRun); false when it already ended. */
export async function updateControls(db: Queryable, id: string, controls: { maxConcurrency?: RateValue; maxErrors?: RateValue }): Promise<boolean> {
  const rows = await query(
    db,
    `UPDATE rollouts SET max_concurrency = coalesce($2, max_concurrency), max_errors = coalesce($3, max_errors), updated_at = now()
     WHERE id = $1 AND status = 'RUNNING' RETURNING 1`,
    [id, controls.maxConcurrency === undefined ? null : String(controls.maxConcurrency), controls.maxErrors === undefined ? null : String(controls.maxErrors)],
  );
  return rows.length > 0;
}

/** A STOPPED or CANCELLED rollout runs its pending targets again; false when it was in another state. */
export async function resumeRollout(db: Queryable, id: string, maxErrors?: RateValue): Promise<boolean> {
  const rows = await query(
    db,
    `UPDATE rollouts SET status = 'RUNNING', cancel_requested = false, error = NULL, max_errors = coalesce($2, max_errors), updated_at = now()
     WHERE id = $1 AND status IN ('STOPPED', 'CANCELLED') RETURNING 1`,
    [id, maxErrors === undefined ? null : String(maxErrors)],
  );
  return rows.length > 0;
}

export async function setRolloutExecution(db: Queryable, id: string, executionArn: string): Promise<void> {
  await query(db, 'UPDATE rollouts SET execution_arn = $2 WHERE id = $1', [id, executionArn]);
}

/**
 * For a rollback of rollout `id`: each workspace whose install in it succeeded, with the revision
 * that was active there before (the newest older one that ran: neither rolled back nor removed),
 * or null when the workspace had no active revision of the plugin then.
 */
export async function rollbackTargets(db: Queryable, id: string): Promise<Array<{ workspaceId: string; revision: number | null }>> {
  return query<{ workspaceId: string; revision: number | null }>(
    db,
    `SELECT t.workspace_id AS "workspaceId",
       (SELECT CASE WHEN p.status = 'superseded' OR p.status = 'active' THEN p.revision END
        FROM plugin_revisions p
        WHERE p.workspace_id = t.workspace_id AND p.plugin_name = o.plugin AND p.revision < o.revision AND p.status <> 'rolled_back'
        ORDER BY p.revision DESC LIMIT 1) AS revision
     FROM rollout_targets t JOIN plugin_operations o ON o.id = t.operation_id
     WHERE t.rollout_id = $1 AND t.status = 'succeeded' AND o.kind = 'install' AND o.revision IS NOT NULL
     ORDER BY t.position`,
    [id],
  );
}

/** What the rollout's one Stage found (null before it ran). */
export async function rolloutStaged<T>(db: Queryable, id: string): Promise<T | null> {
  const rows = await query<{ staged: T | null }>(db, 'SELECT staged FROM rollouts WHERE id = $1', [id]);
  return rows[0]?.staged ?? null;
}

/** RUNNING rollouts not changed for `olderThanMs`, oldest first, with the driver execution each was last given. */
export async function runningRollouts(
  db: Queryable,
  olderThanMs: number,
  limit: number,
): Promise<Array<{ id: string; executionArn: string | null; staged: boolean }>> {
  return query<{ id: string; executionArn: string | null; staged: boolean }>(
    db,
    `SELECT id, execution_arn AS "executionArn", staged IS NOT NULL AS staged FROM rollouts
     WHERE status = 'RUNNING' AND updated_at < now() - make_interval(secs => $1::double precision / 1000)
     ORDER BY updated_at LIMIT $2`,
    [olderThanMs, limit],
  );
}
