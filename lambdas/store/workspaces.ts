import type { Db, Queryable } from './db.js';
import { query, transaction } from './db.js';
import type { Transport, Workspace } from '../shared/types.js';
import { Conflict } from '../shared/errors.js';

interface WorkspaceRow {
  id: string;
  org_id: string;
  runtime: string;
  instance_id: string | null;
  transport: Transport;
  status: string;
}

const toWorkspace = (r: WorkspaceRow): Workspace => ({
  id: r.id,
  orgId: r.org_id,
  runtime: r.runtime,
  instanceId: r.instance_id,
  transport: r.transport,
  status: r.status,
});

export interface WorkspaceInput {
  orgId: string;
  runtime: string;
  instanceId?: string | null;
  transport?: Transport;
  status?: string;
}

/** Creates or replaces a workspace; the first workspace naming an org creates the org. */
export async function upsertWorkspace(db: Db, id: string, input: WorkspaceInput): Promise<{ workspace: Workspace; created: boolean }> {
  return transaction(db, async (client) => {
    // A workspace never changes org: its plugins and operation history would become the new org's.
    const existing = await query<{ org_id: string }>(client, 'SELECT org_id FROM workspaces WHERE id = $1 FOR UPDATE', [id]);
    if (existing[0] && existing[0].org_id !== input.orgId) {
      throw new Conflict(`workspace "${id}" belongs to org "${existing[0].org_id}" and cannot move to org "${input.orgId}"`, {
        orgId: existing[0].org_id,
      });
    }
    await client.query('INSERT INTO orgs (id) VALUES ($1) ON CONFLICT DO NOTHING', [input.orgId]);
    const rows = await query<WorkspaceRow & { inserted: boolean }>(
      client,
      `INSERT INTO workspaces (id, org_id, runtime, instance_id, transport, status)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET org_id = EXCLUDED.org_id, runtime = EXCLUDED.runtime,
         instance_id = EXCLUDED.instance_id, transport = EXCLUDED.transport, status = EXCLUDED.status,
         updated_at = now()
       RETURNING *, (xmax = 0) AS inserted`,
      [id, input.orgId, input.runtime, input.instanceId ?? null, input.transport ?? 'auto', input.status ?? 'online'],
    );
    const row = rows[0]!;
    return { workspace: toWorkspace(row), created: row.inserted };
  });
}

export async function getWorkspace(db: Queryable, id: string): Promise<Workspace | null> {
  const rows = await query<WorkspaceRow>(db, 'SELECT * FROM workspaces WHERE id = $1', [id]);
  return rows[0] ? toWorkspace(rows[0]) : null;
}

/**
 * Set when the host changed but its restart failed; cleared by the next restart that works. Writes
 * only on a change, since every successful restart clears it.
 */
export async function setRestartPending(db: Queryable, workspaceId: string, pending: boolean): Promise<void> {
  await query(db, 'UPDATE workspaces SET restart_pending = $2 WHERE id = $1 AND restart_pending <> $2', [workspaceId, pending]);
}

export async function isRestartPending(db: Queryable, workspaceId: string): Promise<boolean> {
  const rows = await query<{ restart_pending: boolean }>(db, 'SELECT restart_pending FROM workspaces WHERE id = $1', [workspaceId]);
  return rows[0]?.restart_pending ?? false;
}

export async function orgExists(db: Queryable, orgId: string): Promise<boolean> {
  const rows = await query(db, 'SELECT 1 FROM orgs WHERE id = $1', [orgId]);
  return rows.length > 0;
}

/** Cleanup: forget the plugin rows of workspaces marked removed (their hosts are gone). */
export async function purgeRemovedWorkspacePlugins(db: Queryable, batch: number): Promise<number> {
  const rows = await query(
    db,
    `DELETE FROM workspace_plugins WHERE ctid IN (
       SELECT wp.ctid FROM workspace_plugins wp JOIN workspaces w ON w.id = wp.workspace_id
       WHERE w.status = 'removed' LIMIT $1)
     RETURNING 1`,
    [batch],
  );
  return rows.length;
}

/** The org's workspaces a rollout may target, in id order (removed ones excluded); `runtime` compared as SPEC §5 says. */
export async function workspacesOfOrg(db: Queryable, orgId: string): Promise<Workspace[]> {
  const rows = await query<WorkspaceRow>(db, `SELECT * FROM workspaces WHERE org_id = $1 AND status <> 'removed' ORDER BY id`, [orgId]);
  return rows.map(toWorkspace);
}

/**
 * A verify finished (SPEC §12): when, and whether it found drift. A repair clears `last_verified_at`
 * instead (`drifted` stays as the last verify found it), so the next sweep verifies the workspace first.
 */
export async function markVerified(db: Queryable, workspaceId: string, drifted: boolean): Promise<void> {
  await query(db, 'UPDATE workspaces SET last_verified_at = now(), drifted = $2 WHERE id = $1', [workspaceId, drifted]);
}

export async function markRepaired(db: Queryable, workspaceId: string): Promise<void> {
  await query(db, 'UPDATE workspaces SET last_verified_at = NULL WHERE id = $1', [workspaceId]);
}

/**
 * Claims the drift sweep's batch (SPEC §12): workspaces with a host to verify (not removed, not
 * external, an instance) not verified since `verifiedBefore` and without a verify RUNNING, least
 * recently verified first (never verified before all), at most `batch`. Claiming sets their
 * `last_verified_at`, in the same statement, so two runs at once (the schedule and
 * `POST /admin/cleanup/run`) never take the same workspace, and a host that is down is tried again
 * once `verifiedBefore` passes it, not on every run ahead of the others. The verify sets it again
 * when it ends, with what it found.
 */
export async function claimDriftSweep(db: Queryable, batch: number, verifiedBefore: Date): Promise<string[]> {
  const rows = await query<{ id: string }>(
    db,
    `WITH picked AS (
       SELECT w.id, w.last_verified_at FROM workspaces w
       WHERE w.status <> 'removed' AND w.runtime <> 'external' AND w.instance_id IS NOT NULL
         AND (w.last_verified_at IS NULL OR w.last_verified_at < $2)
         AND NOT EXISTS (SELECT 1 FROM plugin_operations o WHERE o.workspace_id = w.id AND o.status = 'RUNNING' AND o.kind = 'verify')
       ORDER BY w.last_verified_at ASC NULLS FIRST, w.id
       LIMIT $1
       FOR UPDATE OF w SKIP LOCKED
     ), claimed AS (
       UPDATE workspaces w SET last_verified_at = now() FROM picked WHERE w.id = picked.id RETURNING w.id, picked.last_verified_at AS before
     )
     SELECT id FROM claimed ORDER BY before ASC NULLS FIRST, id`,
    [batch, verifiedBefore.toISOString()],
  );
  return rows.map((r) => r.id);
}

/** How many live workspaces the latest verify found drifted: the `DriftedWorkspaces` metric. */
export async function countDriftedWorkspaces(db: Queryable): Promise<number> {
  const rows = await query<{ n: number }>(db, `SELECT count(*)::int AS n FROM workspaces WHERE drifted AND status <> 'removed'`);
  return rows[0]?.n ?? 0;
}
