/**
 * What the reconciler needs from the database (issue #7): find operations whose execution may have
 * ended without closing them, close one with a documented error, and record what the host really
 * has. The reconciler itself (asking Step Functions and the host) lives with the workflow.
 */
import type { Queryable } from './db.js';
import { query } from './db.js';
import { deleteInstalled } from './installed.js';
import { toOperation, type OperationRow } from './operations.js';
import { InvalidRequest, type ErrorRecord } from '../shared/errors.js';
import type { Operation } from '../shared/types.js';

export interface StaleOperationQuery {
  /** Only operations created at least this long ago (by the database's clock). */
  olderThanMs: number;
  /** At most this many per page (1–500). */
  limit: number;
  /** `nextCursor` of the page before; omit for the first page. */
  cursor?: string | null;
}

export interface StaleOperationPage {
  /** Oldest first; each carries its executionArn, workspaceId, kind, plugin, source and steps. */
  operations: Operation[];
  /** Pass it back for the next page; null when this page was the last. */
  nextCursor: string | null;
}

const MAX_PAGE = 500;

// Opaque to callers; inside, the last row's creation time to the microsecond and its id (the tie-breaker).
const encodeCursor = (createdAt: string, id: string) => Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');

function decodeCursor(cursor: string): [string, string] {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      typeof parsed[0] === 'string' &&
      typeof parsed[1] === 'string' &&
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(parsed[0])
    ) {
      return [parsed[0], parsed[1]];
    }
  } catch {
    // fall through to the documented rejection
  }
  throw new InvalidRequest('invalid cursor');
}

/**
 * RUNNING operations older than `olderThanMs`, oldest first, one bounded page at a time. Keyset
 * paging, so closing operations between pages neither skips nor repeats any.
 */
export async function listStaleOperations(db: Queryable, q: StaleOperationQuery): Promise<StaleOperationPage> {
  const limit = Math.min(Math.max(Math.trunc(q.limit), 1), MAX_PAGE);
  const [afterAt, afterId] = q.cursor ? decodeCursor(q.cursor) : [null, null];
  const rows = await query<OperationRow & { cursor_at: string }>(
    db,
    `SELECT *, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
     FROM plugin_operations
     WHERE status = 'RUNNING' AND created_at <= now() - make_interval(secs => $1::double precision / 1000)
       AND ($2::timestamptz IS NULL OR (created_at, id) > ($2::timestamptz, $3::text))
     ORDER BY created_at, id
     LIMIT $4`,
    [Math.max(q.olderThanMs, 0), afterAt, afterId, limit],
  );
  const last = rows[rows.length - 1];
  return {
    operations: rows.map(toOperation),
    nextCursor: rows.length === limit && last ? encodeCursor(last.cursor_at, last.id) : null,
  };
}

/**
 * Closes an operation whose execution ended without closing it, only if it is still RUNNING
 * (compare-and-set: a late Record or RecordFailure wins). In the same statement, so one
 * transaction: its RUNNING steps end FAILED now, its workspace lease is released, and a closed
 * uninstall marks its row failed, like RecordFailure does, so the cleanup retries it with backoff.
 * Record what the host has (`recordHostState`) before, so a reader who sees FAILED sees the truth.
 * Returns whether this call closed it.
 */
export async function failStaleOperation(db: Queryable, operationId: string, error: ErrorRecord): Promise<boolean> {
  const rows = await query<{ closed: number }>(
    db,
    `WITH closed AS (
       UPDATE plugin_operations SET status = 'FAILED', error = $2, updated_at = now(), steps = (
         SELECT coalesce(jsonb_agg(CASE WHEN s->>'status' = 'RUNNING'
           THEN s || jsonb_build_object('status', 'FAILED', 'endedAt', now()) ELSE s END), '[]'::jsonb)
         FROM jsonb_array_elements(steps) s)
       WHERE id = $1 AND status = 'RUNNING'
       RETURNING id, workspace_id, kind, plugin
     ), released AS (
       DELETE FROM workspace_leases l USING closed c WHERE l.workspace_id = c.workspace_id AND l.holder = c.id
     ), retried AS (
       UPDATE workspace_plugins wp SET uninstall_failed_at = now(), uninstall_attempts = wp.uninstall_attempts + 1
       FROM closed c WHERE c.kind = 'uninstall' AND wp.workspace_id = c.workspace_id AND wp.plugin_name = c.plugin
     )
     SELECT count(*)::int AS closed FROM closed`,
    [operationId, JSON.stringify(error)],
  );
  return (rows[0]?.closed ?? 0) > 0;
}

/** What the host reports for one plugin it has installed (read from the plugin's directory). */
export interface HostPlugin {
  version: string | null;
  sha256: string;
  source: string;
  /** Omitted: the recorded value is kept (an empty list for a new row). */
  skills?: string[];
  runtimes?: string[];
}

export type HostStateChange = 'unchanged' | 'recorded' | 'forgotten' | 'absent';

/**
 * Brings `workspace_plugins` in line with what the host reported after a reconcile: `null` means
 * the host does not have the plugin (its row is forgotten). A plugin the host has is written only
 * where it differs from the record, and keeps its row's schedule and uninstall retry state: the
 * interrupted request is not what the host proves. Returns what it did.
 */
export async function recordHostState(db: Queryable, workspaceId: string, name: string, onHost: HostPlugin | null): Promise<HostStateChange> {
  if (onHost === null) return (await deleteInstalled(db, workspaceId, name)) ? 'forgotten' : 'absent';
  const skills = onHost.skills ? JSON.stringify(onHost.skills) : null;
  const runtimes = onHost.runtimes ? JSON.stringify(onHost.runtimes) : null;
  const rows = await query(
    db,
    `INSERT INTO workspace_plugins AS wp (workspace_id, plugin_name, version, source_raw, sha256, skills, runtimes)
     VALUES ($1, $2, $3, $4, $5, coalesce($6::jsonb, '[]'::jsonb), coalesce($7::jsonb, '[]'::jsonb))
     ON CONFLICT (workspace_id, plugin_name) DO UPDATE SET version = EXCLUDED.version, source_raw = EXCLUDED.source_raw,
       sha256 = EXCLUDED.sha256, skills = coalesce($6::jsonb, wp.skills), runtimes = coalesce($7::jsonb, wp.runtimes), updated_at = now()
     WHERE (wp.version, wp.source_raw, wp.sha256, wp.skills, wp.runtimes)
       IS DISTINCT FROM (EXCLUDED.version, EXCLUDED.source_raw, EXCLUDED.sha256, coalesce($6::jsonb, wp.skills), coalesce($7::jsonb, wp.runtimes))
     RETURNING 1`,
    [workspaceId, name, onHost.version, onHost.source, onHost.sha256, skills, runtimes],
  );
  return rows.length > 0 ? 'recorded' : 'unchanged';
}
