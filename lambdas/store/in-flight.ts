import type { Queryable } from './db.js';
import { query } from './db.js';

/**
 * How many install and uninstall operations an org has RUNNING: one count over the partial index
 * `plugin_operations_in_flight_idx (org_id) WHERE status = 'RUNNING'`, so its cost follows the
 * org's operations in flight, not the size of the audit log.
 */
export async function countInFlight(db: Queryable, orgId: string): Promise<number> {
  const rows = await query<{ n: number }>(db, `SELECT count(*)::int AS n FROM plugin_operations WHERE org_id = $1 AND status = 'RUNNING'`, [orgId]);
  return rows[0]?.n ?? 0;
}
