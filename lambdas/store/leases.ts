import type { Queryable } from './db.js';
import { query } from './db.js';

/**
 * Per-workspace lease (SPEC §6): one row per workspace with an expiry, held by an operation id.
 * Acquiring is a single statement, so no transaction is ever held across the network calls the
 * holder then makes. It succeeds when the workspace has no lease, the same holder re-acquires (a
 * retried step; its lease is extended), the lease expired, or the holder's operation is no longer
 * RUNNING (finished, or never recorded): a lease whose execution ended is free at once, and the
 * TTL only bounds an execution that died without its operation being closed.
 */
export async function acquireLease(db: Queryable, workspaceId: string, holder: string, ttlMs: number): Promise<boolean> {
  const rows = await query(
    db,
    `INSERT INTO workspace_leases (workspace_id, holder, expires_at)
     VALUES ($1, $2, now() + make_interval(secs => $3::double precision / 1000))
     ON CONFLICT (workspace_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
       WHERE workspace_leases.holder = EXCLUDED.holder OR workspace_leases.expires_at < now()
         OR NOT EXISTS (SELECT 1 FROM plugin_operations o WHERE o.id = workspace_leases.holder AND o.status = 'RUNNING')
     RETURNING 1`,
    [workspaceId, holder, ttlMs],
  );
  return rows.length > 0;
}

export async function releaseLease(db: Queryable, workspaceId: string, holder: string): Promise<void> {
  await query(db, 'DELETE FROM workspace_leases WHERE workspace_id = $1 AND holder = $2', [workspaceId, holder]);
}
