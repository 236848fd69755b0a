import type { Queryable } from './db.js';
import { query } from './db.js';
import type { Operation, OperationKind, OperationStatus, StepRecord } from '../shared/types.js';
import type { ErrorRecord } from '../shared/errors.js';

export interface OperationRow {
  id: string;
  workspace_id: string;
  org_id: string;
  kind: OperationKind;
  status: OperationStatus;
  plugin: string | null;
  source: string | null;
  sha256: string | null;
  execution_arn: string | null;
  steps: StepRecord[];
  warnings: string[];
  error: ErrorRecord | null;
  request_hash: string | null;
  created_at: Date;
  updated_at: Date;
}

const isoTime = (text: string) => new Date(text).toISOString();

export const toOperation = (r: OperationRow): Operation => ({
  operationId: r.id,
  workspaceId: r.workspace_id,
  kind: r.kind,
  status: r.status,
  plugin: r.plugin,
  source: r.source,
  sha256: r.sha256,
  executionArn: r.execution_arn,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  // Step times are written by PostgreSQL into JSON (`+00:00`, varying fractions): shown like the others.
  steps: r.steps.map((step) => ({
    ...step,
    startedAt: isoTime(step.startedAt),
    ...(step.endedAt ? { endedAt: isoTime(step.endedAt) } : {}),
  })),
  warnings: r.warnings,
  ...(r.error ? { error: r.error } : {}),
});

export interface NewOperation {
  id: string;
  workspaceId: string;
  orgId: string;
  kind: OperationKind;
  plugin: string | null;
  source: string | null;
  sha256: string | null;
  idempotencyKey: string | null;
  /** A hash of what was asked, compared when the idempotency key is used again. */
  requestHash: string | null;
  actorPrefix: string | null;
  /** The execution's ARN when it is known before starting it (it is derived from the name). */
  executionArn: string | null;
}

/**
 * Records a new RUNNING operation. With an idempotency key already used on this workspace the
 * existing operation is returned instead (`created: false`), with the hash of the request that
 * made it, so a retried request never starts a second workflow.
 */
export async function createOperation(
  db: Queryable,
  op: NewOperation,
): Promise<{ operation: Operation; created: true } | { operation: Operation; created: false; requestHash: string | null }> {
  const inserted = await query<OperationRow>(
    db,
    `INSERT INTO plugin_operations
       (id, workspace_id, org_id, kind, status, plugin, source, sha256, idempotency_key, request_hash, actor_prefix, execution_arn)
     VALUES ($1, $2, $3, $4, 'RUNNING', $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (workspace_id, idempotency_key) DO NOTHING
     RETURNING *`,
    [op.id, op.workspaceId, op.orgId, op.kind, op.plugin, op.source, op.sha256, op.idempotencyKey, op.requestHash, op.actorPrefix, op.executionArn],
  );
  if (inserted[0]) return { operation: toOperation(inserted[0]), created: true };
  // Only a repeated idempotency key conflicts (a null key never does).
  return { ...(await findByIdempotencyKey(db, op.workspaceId, op.idempotencyKey!))!, created: false };
}

/** The operation started under this idempotency key on this workspace, with the hash of its request. */
export async function findByIdempotencyKey(
  db: Queryable,
  workspaceId: string,
  key: string,
): Promise<{ operation: Operation; requestHash: string | null } | null> {
  const rows = await query<OperationRow>(db, 'SELECT * FROM plugin_operations WHERE workspace_id = $1 AND idempotency_key = $2', [workspaceId, key]);
  return rows[0] ? { operation: toOperation(rows[0]), requestHash: rows[0].request_hash } : null;
}

export async function getOperation(db: Queryable, id: string): Promise<Operation | null> {
  const rows = await query<OperationRow>(db, `SELECT * FROM plugin_operations WHERE id = $1`, [id]);
  return rows[0] ? toOperation(rows[0]) : null;
}

export async function setExecutionArn(db: Queryable, id: string, executionArn: string): Promise<void> {
  await query(db, 'UPDATE plugin_operations SET execution_arn = $2, updated_at = now() WHERE id = $1', [id, executionArn]);
}

/** Marks a step started (or restarted, on a retry); a step appears once in `steps`. */
export async function stepStarted(db: Queryable, id: string, step: string): Promise<void> {
  await query(
    db,
    `UPDATE plugin_operations SET updated_at = now(), steps = (
       SELECT coalesce(jsonb_agg(s), '[]'::jsonb) FROM jsonb_array_elements(steps) s WHERE s->>'name' <> $2
     ) || jsonb_build_array(jsonb_build_object('name', $2::text, 'status', 'RUNNING', 'startedAt', now()))
     WHERE id = $1`,
    [id, step],
  );
}

/** Ends a running step; a step the operation's end already closed keeps its status. */
export async function stepEnded(db: Queryable, id: string, step: string, status: StepRecord['status']): Promise<void> {
  await query(
    db,
    `UPDATE plugin_operations SET updated_at = now(), steps = (
       SELECT coalesce(jsonb_agg(CASE WHEN s->>'name' = $2 AND s->>'status' = 'RUNNING'
         THEN s || jsonb_build_object('status', $3::text, 'endedAt', now()) ELSE s END), '[]'::jsonb)
       FROM jsonb_array_elements(steps) s
     ) WHERE id = $1`,
    [id, step, status],
  );
}

export interface StagedDetails {
  plugin: string;
  sha256: string;
  warnings: string[];
}

export async function setStaged(db: Queryable, id: string, staged: StagedDetails): Promise<void> {
  await query(db, 'UPDATE plugin_operations SET plugin = $2, sha256 = $3, warnings = $4, updated_at = now() WHERE id = $1', [
    id,
    staged.plugin,
    staged.sha256,
    JSON.stringify(staged.warnings),
  ]);
}

/** Appends warnings a later step found (a skill dir uninstall kept), after those Stage recorded. */
export async function addWarnings(db: Queryable, id: string, warnings: readonly string[]): Promise<void> {
  if (warnings.length === 0) return;
  await query(db, 'UPDATE plugin_operations SET warnings = warnings || $2::jsonb, updated_at = now() WHERE id = $1', [id, JSON.stringify(warnings)]);
}

/**
 * Closes the operation and, in the same statement, every step still running (the step that
 * finishes it), so a reader never sees a finished operation with a running step.
 */
export async function finishOperation(db: Queryable, id: string, status: Exclude<OperationStatus, 'RUNNING'>, error?: ErrorRecord): Promise<void> {
  await query(
    db,
    `UPDATE plugin_operations SET status = $2, error = $3, updated_at = now(), steps = (
       SELECT coalesce(jsonb_agg(CASE WHEN s->>'status' = 'RUNNING'
         THEN s || jsonb_build_object('status', $2::text, 'endedAt', now()) ELSE s END), '[]'::jsonb)
       FROM jsonb_array_elements(steps) s
     ) WHERE id = $1 AND status = 'RUNNING'`,
    [id, status, error ? JSON.stringify(error) : null],
  );
}

export interface OperationFilter {
  status?: OperationStatus;
  workspaceId?: string;
  limit: number;
}

export async function listOperations(db: Queryable, filter: OperationFilter): Promise<Operation[]> {
  const rows = await query<OperationRow>(
    db,
    `SELECT * FROM plugin_operations
     WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR workspace_id = $2)
     ORDER BY created_at DESC, id DESC LIMIT $3`,
    [filter.status ?? null, filter.workspaceId ?? null, filter.limit],
  );
  return rows.map(toOperation);
}
