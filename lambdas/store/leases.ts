import type { Queryable } from './db.js';
import { query } from './db.js';

/**
 * Per-workspace lease (SPEC §6): one row per workspace with an expiry. Acquiring is a single
 * statement, so no transaction is ever held across the network calls the holder then makes.
 * The same holder re-acquiring (a retried step) extends its lease.
 */
export async function acquireLease(db: Queryable, workspaceId: string, holder: string, ttlMs: number): Promise<boolean> {
  const rows = await query(
    db,
    `INSERT INTO workspace_leases (workspace_id, holder, expires_at)
     VALUES ($1, $2, now() + make_interval(secs => $3::double precision / 1000))
     ON CONFLICT (workspace_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
       WHERE workspace_leases.holder = EXCLUDED.holder OR workspace_leases.expires_at < now()
     RETURNING 1`,
    [workspaceId, holder, ttlMs],
  );
  return rows.length > 0;
}

export async function releaseLease(db: Queryable, workspaceId: string, holder: string): Promise<void> {
  await query(db, 'DELETE FROM workspace_leases WHERE workspace_id = $1 AND holder = $2', [workspaceId, holder]);
}
