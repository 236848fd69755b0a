import type { Queryable } from './db.js';
import { query } from './db.js';
import type { InstalledInput, InstalledPlugin, InstalledVia } from '../shared/types.js';

export type { InstalledInput, InstalledPlugin, InstalledVia } from '../shared/types.js';

interface Row {
  workspace_id: string;
  plugin_name: string;
  version: string | null;
  source_raw: string;
  sha256: string;
  skills: string[];
  runtimes: string[];
  installed_at: Date;
  updated_at: Date;
  uninstall_at: Date | null;
  installed_via: InstalledVia;
}

const toInstalled = (r: Row): InstalledPlugin => ({
  workspaceId: r.workspace_id,
  name: r.plugin_name,
  version: r.version,
  source: r.source_raw,
  sha256: r.sha256,
  skills: r.skills,
  runtimes: r.runtimes,
  installedAt: r.installed_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  uninstallAt: r.uninstall_at?.toISOString() ?? null,
  installedVia: r.installed_via,
});

/** Records a successful install; a reinstall keeps the original `installed_at`. */
export async function upsertInstalled(db: Queryable, p: InstalledInput): Promise<void> {
  await query(
    db,
    `INSERT INTO workspace_plugins (workspace_id, plugin_name, version, source_raw, sha256, skills, runtimes, uninstall_at, installed_via)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (workspace_id, plugin_name) DO UPDATE SET version = EXCLUDED.version, source_raw = EXCLUDED.source_raw,
       sha256 = EXCLUDED.sha256, skills = EXCLUDED.skills, runtimes = EXCLUDED.runtimes, uninstall_at = EXCLUDED.uninstall_at,
       installed_via = EXCLUDED.installed_via, uninstall_failed_at = NULL, uninstall_attempts = 0, updated_at = now()`,
    [p.workspaceId, p.name, p.version, p.source, p.sha256, JSON.stringify(p.skills), JSON.stringify(p.runtimes), p.uninstallAt, p.installedVia ?? 'push'],
  );
}

export async function listInstalled(db: Queryable, workspaceId: string): Promise<InstalledPlugin[]> {
  const rows = await query<Row>(db, 'SELECT * FROM workspace_plugins WHERE workspace_id = $1 ORDER BY plugin_name', [workspaceId]);
  return rows.map(toInstalled);
}

export async function getInstalled(db: Queryable, workspaceId: string, name: string): Promise<InstalledPlugin | null> {
  const rows = await query<Row>(db, 'SELECT * FROM workspace_plugins WHERE workspace_id = $1 AND plugin_name = $2', [workspaceId, name]);
  return rows[0] ? toInstalled(rows[0]) : null;
}

/** Forgets an installed plugin; returns whether there was a row to forget. */
export async function deleteInstalled(db: Queryable, workspaceId: string, name: string): Promise<boolean> {
  const rows = await query(db, 'DELETE FROM workspace_plugins WHERE workspace_id = $1 AND plugin_name = $2 RETURNING 1', [workspaceId, name]);
  return rows.length > 0;
}

/** The latest request wins: a pending retry of an earlier failed uninstall gives way to the new time. */
export async function scheduleUninstall(db: Queryable, workspaceId: string, name: string, at: string): Promise<boolean> {
  const rows = await query(
    db,
    `UPDATE workspace_plugins SET uninstall_at = $3, uninstall_failed_at = NULL, uninstall_attempts = 0
     WHERE workspace_id = $1 AND plugin_name = $2 RETURNING 1`,
    [workspaceId, name, at],
  );
  return rows.length > 0;
}

export async function markUninstallFailed(db: Queryable, workspaceId: string, name: string): Promise<void> {
  await query(
    db,
    `UPDATE workspace_plugins SET uninstall_failed_at = now(), uninstall_attempts = uninstall_attempts + 1
     WHERE workspace_id = $1 AND plugin_name = $2`,
    [workspaceId, name],
  );
}

/**
 * When a failed uninstall is tried again: 15 minutes after the first failure, doubling with each
 * one after it, at most a day apart. A host that stays down is not retried every run, and its
 * rows do not fill the batch ahead of uninstalls that are due.
 */
const RETRY_AT = `wp.uninstall_failed_at
  + LEAST(interval '15 minutes' * power(2, LEAST(GREATEST(wp.uninstall_attempts - 1, 0), 10)), interval '24 hours')`;

export interface CleanupCandidate {
  workspaceId: string;
  name: string;
  reason: 'uninstall_due' | 'not_in_allowlist' | 'retry_failed_uninstall';
}

/**
 * SPEC §7: what the scheduled cleanup should uninstall, oldest first, at most `batch` rows:
 * due `uninstall_at`, plugins no longer on their org's non-empty allowlist (by name, or installed
 * from another origin than the entry's pin), failed uninstalls. A workspace busy with another
 * operation still gets its uninstall (it queues on the workspace lease); only a plugin whose
 * uninstall is already running is left out, so no run starts a second one.
 */
export async function cleanupCandidates(db: Queryable, batch: number): Promise<CleanupCandidate[]> {
  const rows = await query<{ workspace_id: string; plugin_name: string; reason: CleanupCandidate['reason'] }>(
    db,
    `SELECT wp.workspace_id, wp.plugin_name,
       CASE WHEN wp.uninstall_failed_at IS NOT NULL THEN 'retry_failed_uninstall'
            WHEN wp.uninstall_at IS NOT NULL AND wp.uninstall_at <= now() THEN 'uninstall_due'
            ELSE 'not_in_allowlist' END AS reason
     FROM workspace_plugins wp JOIN workspaces w ON w.id = wp.workspace_id
     WHERE w.status <> 'removed' AND w.runtime <> 'external'
       AND CASE WHEN wp.uninstall_failed_at IS NOT NULL THEN ${RETRY_AT} <= now()
           ELSE (wp.uninstall_at IS NOT NULL AND wp.uninstall_at <= now())
             OR (EXISTS (SELECT 1 FROM org_plugin_allowlist a WHERE a.org_id = w.org_id)
                 AND NOT EXISTS (SELECT 1 FROM org_plugin_allowlist a WHERE a.org_id = w.org_id AND a.plugin_name = wp.plugin_name
                   AND (a.source IS NULL OR origin_matches(a.source, plugin_origin(wp.source_raw))))) END
       AND NOT EXISTS (SELECT 1 FROM plugin_operations o WHERE o.workspace_id = wp.workspace_id AND o.status = 'RUNNING'
                         AND o.kind = 'uninstall' AND o.plugin = wp.plugin_name)
     ORDER BY CASE WHEN wp.uninstall_failed_at IS NOT NULL THEN ${RETRY_AT} ELSE coalesce(wp.uninstall_at, wp.updated_at) END
     LIMIT $1`,
    [batch],
  );
  return rows.map((r) => ({ workspaceId: r.workspace_id, name: r.plugin_name, reason: r.reason }));
}
