import type { Queryable } from './db.js';
import { query } from './db.js';
import {
  OPERATIONS_PAGE_MAX,
  type Operation,
  type OperationKind,
  type OperationStatus,
  type Plan,
  type Repair,
  type RevisionFile,
  type Signer,
  type StepDetails,
  type StepRecord,
  type Verification,
} from '../shared/types.js';
import { InvalidRequest, type ErrorRecord } from '../shared/errors.js';
import { consoleUrlFor } from '../shared/execution-name.js';

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
  execution_name: string | null;
  steps: StoredStep[];
  warnings: string[];
  error: ErrorRecord | null;
  revision: number | null;
  plan: Plan | null;
  rollout_id: string | null;
  signer: Signer | null;
  verify: Verification | null;
  repair: Repair | null;
  request_hash: string | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * A step as `plugin_operations.steps` holds it: the public record, possibly from before attempts
 * were counted (no `attempts`, `retries`), plus `errorName`, the failed attempt's error name, which
 * the next attempt turns into its retry entry.
 */
type StoredStep = Omit<StepRecord, 'attempts' | 'retries'> & Partial<Pick<StepRecord, 'attempts' | 'retries'>> & { errorName?: string };

export type { StepDetails } from '../shared/types.js';

const isoTime = (text: string) => new Date(text).toISOString();

// Step times are written by PostgreSQL into JSON (`+00:00`, varying fractions): shown like the others.
function toStep({ errorName: _name, ...step }: StoredStep): StepRecord {
  return {
    ...step,
    startedAt: isoTime(step.startedAt),
    ...(step.endedAt ? { endedAt: isoTime(step.endedAt) } : {}),
    attempts: step.attempts ?? 1,
    retries: (step.retries ?? []).map((retry) => ({ error: retry.error, at: isoTime(retry.at) })),
  };
}

export const toOperation = (r: OperationRow): Operation => ({
  operationId: r.id,
  workspaceId: r.workspace_id,
  orgId: r.org_id,
  kind: r.kind,
  status: r.status,
  plugin: r.plugin,
  source: r.source,
  sha256: r.sha256,
  executionArn: r.execution_arn,
  executionName: r.execution_name ?? r.execution_arn?.split(':').at(-1) ?? null,
  consoleUrl: consoleUrlFor(r.execution_arn),
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  steps: r.steps.map(toStep),
  warnings: r.warnings,
  ...(r.rollout_id ? { rolloutId: r.rollout_id } : {}),
  ...(r.revision !== null && r.revision !== undefined ? { revision: r.revision } : {}),
  ...(r.plan ? { plan: r.plan } : {}),
  ...(r.verify ? { verify: r.verify } : {}),
  ...(r.repair ? { repair: r.repair } : {}),
  // A step records its error's context before it fails (`setFailing`); the operation shows it once closed.
  ...(r.error && r.status !== 'RUNNING' ? { error: r.error } : {}),
  ...(r.signer ? { signer: r.signer } : {}),
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
  /** The execution's name (shared/execution-name.ts). */
  executionName?: string | null;
  /** Record nothing when the org already has this many operations RUNNING; absent or null, no cap. */
  maxInFlightForOrg?: number | null;
  /** The rollout that started it (SPEC §10). */
  rolloutId?: string | null;
}

/** What recording an operation did (SPEC §4 idempotency and the per-org cap). */
export type RecordedOperation =
  | { operation: Operation; created: true }
  /** An earlier request under the same idempotency key recorded it; `requestHash` says what it asked. */
  | { operation: Operation; created: false; requestHash: string | null }
  /** An uninstall of the same plugin on the same workspace is already RUNNING: this request is that one. */
  | { operation: Operation; created: false; joined: 'uninstall_running' }
  /** Nothing recorded: the org already had `inFlight` operations RUNNING, at or past its cap. */
  | { created: false; refused: 'org_at_capacity'; inFlight: number };

type InsertedRow = { [K in keyof OperationRow]: OperationRow[K] | null } & { in_flight: number };

/**
 * Records a new RUNNING operation in one statement that also counts the org's operations in
 * flight (over the partial index `plugin_operations_in_flight_idx (org_id) WHERE status =
 * 'RUNNING'`, so the count follows what is in flight, not the audit log) and records nothing
 * when `maxInFlightForOrg` are already RUNNING. With an idempotency key already used on this
 * workspace the existing operation is returned instead (`created: false`), with the hash of the
 * request that made it, so a retried request never starts a second workflow. An uninstall while
 * one of the same plugin runs on the workspace is that one (the partial unique index
 * `plugin_operations_one_running_uninstall_idx` decides between racing requests).
 */
export async function createOperation(db: Queryable, op: NewOperation, retried = false): Promise<RecordedOperation> {
  const [row] = await query<InsertedRow>(
    db,
    `WITH in_flight AS (
       SELECT count(*)::int AS n FROM plugin_operations WHERE org_id = $3 AND status = 'RUNNING'
     ), inserted AS (
       INSERT INTO plugin_operations
         (id, workspace_id, org_id, kind, status, plugin, source, sha256, idempotency_key, request_hash, actor_prefix, execution_arn, execution_name, rollout_id)
       SELECT $1, $2, $3, $4, 'RUNNING', $5, $6, $7, $8, $9, $10, $11, $12, $14
       FROM in_flight WHERE $13::int IS NULL OR in_flight.n < $13::int
       ON CONFLICT DO NOTHING
       RETURNING *
     )
     SELECT inserted.*, in_flight.n AS in_flight FROM in_flight LEFT JOIN inserted ON true`,
    [
      op.id,
      op.workspaceId,
      op.orgId,
      op.kind,
      op.plugin,
      op.source,
      op.sha256,
      op.idempotencyKey,
      op.requestHash,
      op.actorPrefix,
      op.executionArn,
      op.executionName ?? null,
      op.maxInFlightForOrg ?? null,
      op.rolloutId ?? null,
    ],
  );
  if (row?.id) return { operation: toOperation(row as OperationRow), created: true };
  // A request racing one with the same idempotency key is its replay, even at the cap.
  const earlier = op.idempotencyKey === null ? null : await findByIdempotencyKey(db, op.workspaceId, op.idempotencyKey);
  if (earlier) return { ...earlier, created: false };
  const running = op.kind === 'uninstall' ? await runningUninstall(db, op.workspaceId, op.plugin) : null;
  if (running) return { operation: running, created: false, joined: 'uninstall_running' };
  const inFlight = row?.in_flight ?? 0;
  // Under the cap, the conflict was with an uninstall that ended between the two statements: once more.
  const atCap = op.maxInFlightForOrg != null && inFlight >= op.maxInFlightForOrg;
  if (!atCap && !retried) return createOperation(db, op, true);
  return { created: false, refused: 'org_at_capacity', inFlight };
}

async function runningUninstall(db: Queryable, workspaceId: string, plugin: string | null): Promise<Operation | null> {
  const rows = await query<OperationRow>(
    db,
    `SELECT * FROM plugin_operations WHERE workspace_id = $1 AND plugin = $2 AND kind = 'uninstall' AND status = 'RUNNING'`,
    [workspaceId, plugin],
  );
  return rows[0] ? toOperation(rows[0]) : null;
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

/** The step's record before this statement, `$2` its name (a step appears once in `steps`). */
const PREVIOUS = `(SELECT s FROM jsonb_array_elements(steps) s WHERE s->>'name' = $2 LIMIT 1)`;

/** Milliseconds from the step's first start to now. */
const DURATION_MS = `round(extract(epoch FROM now() - (s->>'startedAt')::timestamptz) * 1000)::bigint`;

/**
 * Marks a step started. A step already there was retried (the workflow's Retry invokes it again,
 * or its invocation died): this is one more attempt, and the retry names what the previous
 * attempt failed with (`Interrupted` when it never reported). The first start is kept as
 * `startedAt`. A closed operation is left as it is. Returns the attempt's number.
 */
export async function stepStarted(db: Queryable, id: string, step: string): Promise<number> {
  const rows = await query<{ attempt: number | null }>(
    db,
    `UPDATE plugin_operations SET updated_at = now(), steps = (
       SELECT coalesce(jsonb_agg(s), '[]'::jsonb) FROM jsonb_array_elements(steps) s WHERE s->>'name' <> $2
     ) || jsonb_build_array(CASE WHEN ${PREVIOUS} IS NULL
       THEN jsonb_build_object('name', $2::text, 'status', 'RUNNING', 'startedAt', now(), 'attempts', 1, 'retries', '[]'::jsonb)
       ELSE jsonb_build_object('name', $2::text, 'status', 'RUNNING',
         'startedAt', coalesce(${PREVIOUS}->'startedAt', to_jsonb(now())),
         'attempts', coalesce((${PREVIOUS}->>'attempts')::int, 1) + 1,
         'retries', coalesce(${PREVIOUS}->'retries', '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
           'error', coalesce(${PREVIOUS}->>'errorName', CASE WHEN ${PREVIOUS}->>'status' = 'RUNNING' THEN 'Interrupted' ELSE 'Unknown' END),
           'at', now())))
       END)
     WHERE id = $1 AND status = 'RUNNING'
     RETURNING (SELECT (s->>'attempts')::int FROM jsonb_array_elements(steps) s WHERE s->>'name' = $2 LIMIT 1) AS attempt`,
    [id, step],
  );
  return rows[0]?.attempt ?? 1;
}

/**
 * Ends a running step with what it learned (transport, command id or SSH host, and on failure
 * its error and the host's output tail); a step the operation's end already closed keeps its status.
 */
export async function stepEnded(db: Queryable, id: string, step: string, status: StepRecord['status'], details: StepDetails = {}): Promise<void> {
  await query(
    db,
    `UPDATE plugin_operations SET updated_at = now(), steps = (
       SELECT coalesce(jsonb_agg(CASE WHEN s->>'name' = $2 AND s->>'status' = 'RUNNING'
         THEN s || jsonb_build_object('status', $3::text, 'endedAt', now(), 'durationMs', ${DURATION_MS}) || $4::jsonb ELSE s END), '[]'::jsonb)
       FROM jsonb_array_elements(steps) s
     ) WHERE id = $1`,
    [id, step, status, JSON.stringify(details)],
  );
}

export interface StagedDetails {
  plugin: string;
  sha256: string;
  warnings: string[];
  /** Every file staged (SPEC §9): the revision Record adds lists them, a plan compares them. */
  files?: readonly RevisionFile[];
  /** Who signed it, as Stage verified it against the org's trust (SPEC §11); the revision Record adds copies it. */
  signer?: Signer | null;
}

export async function setStaged(db: Queryable, id: string, staged: StagedDetails): Promise<void> {
  await query(
    db,
    `UPDATE plugin_operations SET plugin = $2, sha256 = $3, warnings = $4, staged_files = coalesce($5, staged_files), signer = $6, updated_at = now()
     WHERE id = $1`,
    [
      id,
      staged.plugin,
      staged.sha256,
      JSON.stringify(staged.warnings),
      staged.files ? JSON.stringify(staged.files) : null,
      staged.signer ? JSON.stringify(staged.signer) : null,
    ],
  );
}

/**
 * The error a step is about to fail the operation with, kept with the context fields Step
 * Functions cannot carry to RecordFailure (a failed Task reports only its error's name and
 * message): `finishOperation` keeps them when it closes the operation with the same code.
 */
export async function setFailing(db: Queryable, id: string, error: ErrorRecord): Promise<void> {
  await query(db, `UPDATE plugin_operations SET error = $2, updated_at = now() WHERE id = $1 AND status = 'RUNNING'`, [id, JSON.stringify(error)]);
}

/** What a plan found (SPEC §9): the operation's `plan`. */
export async function setPlan(db: Queryable, id: string, plan: Plan): Promise<void> {
  await query(db, 'UPDATE plugin_operations SET plan = $2, updated_at = now() WHERE id = $1', [id, JSON.stringify(plan)]);
}

/** What a verify found on the host (SPEC §12): the operation's `verify`. */
export async function setVerification(db: Queryable, id: string, verification: Verification): Promise<void> {
  await query(db, 'UPDATE plugin_operations SET verify = $2, updated_at = now() WHERE id = $1', [id, JSON.stringify(verification)]);
}

/** What a repair changed (SPEC §12): the operation's `repair`. */
export async function setRepair(db: Queryable, id: string, repair: Repair): Promise<void> {
  await query(db, 'UPDATE plugin_operations SET repair = $2, updated_at = now() WHERE id = $1', [id, JSON.stringify(repair)]);
}

/** Appends warnings a later step found (a skill dir uninstall kept), after those Stage recorded. */
export async function addWarnings(db: Queryable, id: string, warnings: readonly string[]): Promise<void> {
  if (warnings.length === 0) return;
  await query(db, 'UPDATE plugin_operations SET warnings = warnings || $2::jsonb, updated_at = now() WHERE id = $1', [id, JSON.stringify(warnings)]);
}

/**
 * Closes the operation and, in the same statement, every step still running (the step that
 * finishes it), so a reader never sees a finished operation with a running step. `closingStep`
 * (RecordFailure) succeeded at closing it; any other step left running on a failed operation
 * failed with the operation's error (its invocation died, or the workflow timed out), which it
 * carries unless it recorded its own.
 */
export async function finishOperation(
  db: Queryable,
  id: string,
  status: Exclude<OperationStatus, 'RUNNING'>,
  error?: ErrorRecord,
  closingStep?: string,
): Promise<void> {
  const stepError = error ? JSON.stringify({ error: { code: error.code, message: error.message } }) : '{}';
  await query(
    db,
    `UPDATE plugin_operations SET status = $2, updated_at = now(),
       -- The context a failing step recorded (setFailing) stays with its code; anything else is replaced.
       error = CASE WHEN $3::jsonb IS NOT NULL AND error->>'code' = $3::jsonb->>'code' THEN error || $3::jsonb ELSE $3::jsonb END,
       steps = (
       SELECT coalesce(jsonb_agg(CASE
         WHEN s->>'status' <> 'RUNNING' THEN s
         WHEN s->>'name' = $5 THEN s || jsonb_build_object('status', 'SUCCEEDED', 'endedAt', now(), 'durationMs', ${DURATION_MS})
         ELSE s || jsonb_build_object('status', $2::text, 'endedAt', now(), 'durationMs', ${DURATION_MS})
           || CASE WHEN $2 = 'FAILED' AND NOT s ? 'error' THEN $4::jsonb ELSE '{}'::jsonb END
       END), '[]'::jsonb)
       FROM jsonb_array_elements(steps) s
     ) WHERE id = $1 AND status = 'RUNNING'`,
    [id, status, error ? JSON.stringify(error) : null, stepError, closingStep ?? null],
  );
}

/** The operation a Step Functions execution belongs to (the reconciler's lookup). */
export async function getOperationByExecutionArn(db: Queryable, executionArn: string): Promise<Operation | null> {
  const rows = await query<OperationRow>(db, 'SELECT * FROM plugin_operations WHERE execution_arn = $1', [executionArn]);
  return rows[0] ? toOperation(rows[0]) : null;
}

export interface OperationFilter {
  status?: OperationStatus;
  workspaceId?: string;
  orgId?: string;
  plugin?: string;
  kind?: OperationKind;
  /** Created at or after. */
  since?: Date;
  /** 1..100 */
  limit: number;
  /** From a previous page's `nextCursor`. */
  cursor?: string;
}

export interface OperationPage {
  operations: Operation[];
  /** Set when more (older) operations match. */
  nextCursor: string | null;
}

/** Where a page ended: the last operation's creation time (to the microsecond) and id. */
interface PagePosition {
  at: string;
  id: string;
}

/** An opaque cursor: base64url of the position's JSON. */
export function encodeCursor(position: PagePosition): string {
  return Buffer.from(JSON.stringify([position.at, position.id])).toString('base64url');
}

/** A cursor this API made, or InvalidRequest naming `cursor`. */
export function decodeCursor(cursor: string): PagePosition {
  const invalid = () => new InvalidRequest('invalid query: cursor: not a cursor this API returned', { field: 'cursor' });
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) throw invalid();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(decoded) || decoded.length !== 2) throw invalid();
  const [at, id] = decoded as unknown[];
  if (typeof at !== 'string' || typeof id !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(at) || Number.isNaN(Date.parse(at))) {
    throw invalid();
  }
  if (id.length === 0 || id.length > 128) throw invalid();
  return { at, id };
}

/**
 * Newest first, filtered, one page: keyset on (created_at, id), so paging while operations are
 * being created neither repeats nor skips one.
 */
export async function listOperations(db: Queryable, filter: OperationFilter): Promise<OperationPage> {
  const limit = Math.max(1, Math.min(OPERATIONS_PAGE_MAX, Math.trunc(filter.limit)));
  const after = filter.cursor ? decodeCursor(filter.cursor) : null;
  const rows = await query<OperationRow & { page_at: string }>(
    db,
    `SELECT *, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS page_at FROM plugin_operations
     WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR workspace_id = $2) AND ($3::text IS NULL OR org_id = $3)
       AND ($4::text IS NULL OR plugin = $4) AND ($5::text IS NULL OR kind = $5) AND ($6::timestamptz IS NULL OR created_at >= $6)
       AND ($7::timestamptz IS NULL OR (created_at, id) < ($7::timestamptz, $8::text))
     ORDER BY created_at DESC, id DESC LIMIT $9`,
    [
      filter.status ?? null,
      filter.workspaceId ?? null,
      filter.orgId ?? null,
      filter.plugin ?? null,
      filter.kind ?? null,
      filter.since?.toISOString() ?? null,
      after?.at ?? null,
      after?.id ?? null,
      limit + 1,
    ],
  );
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { operations: page.map(toOperation), nextCursor: rows.length > limit && last ? encodeCursor({ at: last.page_at, id: last.id }) : null };
}
