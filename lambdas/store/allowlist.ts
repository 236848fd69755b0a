import type { Db, Queryable } from './db.js';
import { query, transaction } from './db.js';
import { PluginNotAllowed } from '../shared/errors.js';

export interface AllowlistEntry {
  plugin_name: string;
  enabled_by: string;
  enabled_at: string;
}

export async function getAllowlist(db: Queryable, orgId: string): Promise<AllowlistEntry[]> {
  const rows = await query<{ plugin_name: string; enabled_by: string; enabled_at: Date }>(
    db,
    'SELECT plugin_name, enabled_by, enabled_at FROM org_plugin_allowlist WHERE org_id = $1 ORDER BY plugin_name',
    [orgId],
  );
  return rows.map((r) => ({ ...r, enabled_at: r.enabled_at.toISOString() }));
}

/** Replaces the whole list in one transaction; names kept from the old list keep their enabled_at. */
export async function replaceAllowlist(db: Db, orgId: string, names: string[], enabledBy: string): Promise<AllowlistEntry[]> {
  const unique = [...new Set(names)];
  await transaction(db, async (client) => {
    await client.query('DELETE FROM org_plugin_allowlist WHERE org_id = $1 AND NOT (plugin_name = ANY($2::text[]))', [orgId, unique]);
    await client.query(
      `INSERT INTO org_plugin_allowlist (org_id, plugin_name, enabled_by)
       SELECT $1, unnest($2::text[]), $3 ON CONFLICT (org_id, plugin_name) DO NOTHING`,
      [orgId, unique, enabledBy],
    );
  });
  return getAllowlist(db, orgId);
}

/** SPEC §4: an empty allowlist allows every plugin. */
export async function isPluginAllowed(db: Queryable, orgId: string, pluginName: string): Promise<boolean> {
  const rows = await query<{ total: string; hit: boolean }>(
    db,
    `SELECT count(*) AS total, coalesce(bool_or(plugin_name = $2), false) AS hit
     FROM org_plugin_allowlist WHERE org_id = $1`,
    [orgId, pluginName],
  );
  const row = rows[0]!;
  return Number(row.total) === 0 || row.hit;
}

/** Refuses a plugin the org's allowlist does not allow, with the documented message (push and pull alike). */
export async function requireAllowedPlugin(db: Queryable, orgId: string, pluginName: string): Promise<void> {
  if (!(await isPluginAllowed(db, orgId, pluginName))) throw new PluginNotAllowed(`plugin "${pluginName}" is not in the org allowlist`);
}
