import type { Queryable } from './db.js';
import { query } from './db.js';

/**
 * Per-workspace lease (SPEC §6): one row per workspace with an expiry, held by an operation id.
 * Acquiring is a single statement, so no transaction is ever held across the network calls the
 * holder then makes. The holder keeps it when it asks again (a retried step; its lease is
 * extended). Another operation takes it when it is free — no lease, an expired one, or one whose
 * holder's operation is no longer RUNNING (finished, or never recorded): a lease whose execution
 * ended is free at once, and the TTL only bounds an execution that died without its operation
 * being closed — and no older operation on the same plugin of the workspace is still RUNNING.
 * So changes to one plugin reach the host in the order they were accepted, and the last one asked
 * for is the one that stays, whichever staged first or retried last; a change to another plugin
 * is not held up behind one still staging. "The same plugin": the same name once known, or the
 * same origin (`plugin_origin`, SPEC §4) before Stage has named it. An operation older than the
 * TTL holds no place, as an expired lease holds no workspace.
 */
export async function acquireLease(db: Queryable, workspaceId: string, holder: string, ttlMs: number): Promise<boolean> {
  const rows = await query(
    db,
    `WITH ttl AS (SELECT make_interval(secs => $3::double precision / 1000) AS span),
     queued_behind AS (
       SELECT EXISTS (
         SELECT 1 FROM plugin_operations o, plugin_operations me, ttl
         WHERE me.id = $2 AND o.workspace_id = $1 AND o.status = 'RUNNING' AND o.id <> me.id
           AND (o.created_at, o.id) < (me.created_at, me.id) AND o.created_at > now() - ttl.span
           AND (o.plugin = me.plugin OR plugin_origin(o.source) = plugin_origin(me.source))
       ) AS yes
     )
     INSERT INTO workspace_leases (workspace_id, holder, expires_at)
     SELECT $1, $2, now() + ttl.span FROM ttl, queued_behind
     WHERE NOT queued_behind.yes OR EXISTS (SELECT 1 FROM workspace_leases l WHERE l.workspace_id = $1 AND l.holder = $2)
     ON CONFLICT (workspace_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
       WHERE workspace_leases.holder = EXCLUDED.holder
         OR (NOT (SELECT yes FROM queued_behind) AND (workspace_leases.expires_at < now()
           OR NOT EXISTS (SELECT 1 FROM plugin_operations o WHERE o.id = workspace_leases.holder AND o.status = 'RUNNING')))
     RETURNING 1`,
    [workspaceId, holder, ttlMs],
  );
  return rows.length > 0;
}

export async function releaseLease(db: Queryable, workspaceId: string, holder: string): Promise<void> {
  await query(db, 'DELETE FROM workspace_leases WHERE workspace_id = $1 AND holder = $2', [workspaceId, holder]);
}
