import type { Db, Queryable } from './db.js';
import { query, transaction } from './db.js';
import type { PluginRevision, RevisionFile, RevisionStatus, Signer } from '../shared/types.js';

/**
 * `plugin_revisions` (SPEC §9): every delivery of a plugin to a workspace, numbered 1, 2, … per
 * workspace and plugin, at most one `active`. Writes are idempotent per operation, so a retried
 * Record (or RecordFailure) never numbers a delivery twice.
 */

interface Row {
  workspace_id: string;
  plugin_name: string;
  revision: number;
  version: string | null;
  source_raw: string;
  sha256: string;
  skills: string[];
  runtimes: string[];
  files: RevisionFile[];
  signer: Signer | null;
  operation_id: string;
  installed_at: Date;
  status: RevisionStatus;
  tarball_kept: boolean;
}

const toRevision = (r: Row): PluginRevision => ({
  workspaceId: r.workspace_id,
  plugin: r.plugin_name,
  revision: r.revision,
  version: r.version,
  source: r.source_raw,
  sha256: r.sha256,
  skills: r.skills,
  runtimes: r.runtimes,
  files: r.files,
  signer: r.signer,
  operationId: r.operation_id,
  installedAt: r.installed_at.toISOString(),
  status: r.status,
  tarballKept: r.tarball_kept,
});

export interface NewRevision {
  workspaceId: string;
  plugin: string;
  operationId: string;
  version: string | null;
  source: string;
  sha256: string;
  skills: string[];
  runtimes: string[];
  /** `active`: the host keeps it; `rolled_back`: the health gate undid it. */
  status: Extract<RevisionStatus, 'active' | 'rolled_back'>;
  /** How many of the newest revisions keep their tarball. */
  keep: number;
  /** The files delivered; absent: those Stage recorded on the operation. */
  files?: readonly RevisionFile[];
}

/**
 * A revision a repair adopted from the host (SPEC §12, `source: "host://<workspace>"`): nothing was
 * staged, so it has no tarball to keep, and it holds no place among the kept ones.
 */
const ADOPTED = `source_raw LIKE 'host://%'`;

/**
 * Records the delivery `operationId` made as the plugin's next revision, with the files Stage
 * recorded on that operation (`staged_files`, unless `files` are given) and its signer. An
 * `active` one supersedes the active one. Only the newest `keep` revisions keep their tarball.
 * Recording the same operation and plugin again returns the revision it already has.
 */
export async function addRevision(db: Db, r: NewRevision): Promise<PluginRevision> {
  return transaction(db, async (client) => {
    const existing = await query<Row>(client, 'SELECT * FROM plugin_revisions WHERE operation_id = $1 AND plugin_name = $2', [r.operationId, r.plugin]);
    if (existing[0]) return toRevision(existing[0]);
    // Serializes revision numbers of one workspace and plugin (two workflows never deliver it at
    // once, but a reconciler may record while a retried step does).
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1 || $2))', [r.workspaceId, r.plugin]);
    if (r.status === 'active') {
      await client.query(`UPDATE plugin_revisions SET status = 'superseded' WHERE workspace_id = $1 AND plugin_name = $2 AND status = 'active'`, [
        r.workspaceId,
        r.plugin,
      ]);
    }
    const [row] = await query<Row>(
      client,
      `INSERT INTO plugin_revisions
         (workspace_id, plugin_name, revision, version, source_raw, sha256, skills, runtimes, files, signer, operation_id, status,
          tarball_kept, tarball_deleted)
       SELECT $1, $2,
         coalesce((SELECT max(revision) FROM plugin_revisions WHERE workspace_id = $1 AND plugin_name = $2), 0) + 1,
         $3, $4, $5, $6, $7, coalesce($10::jsonb, o.staged_files, '[]'::jsonb), o.signer, $8, $9,
         $4 NOT LIKE 'host://%', $4 LIKE 'host://%'
       FROM (SELECT 1) one LEFT JOIN plugin_operations o ON o.id = $8
       RETURNING *`,
      [
        r.workspaceId,
        r.plugin,
        r.version,
        r.source,
        r.sha256,
        JSON.stringify(r.skills),
        JSON.stringify(r.runtimes),
        r.operationId,
        r.status,
        r.files ? JSON.stringify(r.files) : null,
      ],
    );
    await keepNewest(client, r.workspaceId, r.plugin, r.keep);
    await client.query('UPDATE plugin_operations SET revision = $2 WHERE id = $1', [r.operationId, row?.revision]);
    return toRevision(row as Row);
  });
}

/** Only the newest `keep` revisions of the plugin on the workspace keep their tarball. */
async function keepNewest(db: Queryable, workspaceId: string, plugin: string, keep: number): Promise<void> {
  await query(
    db,
    `UPDATE plugin_revisions r SET tarball_kept = (ranked.n <= $3)
     FROM (SELECT revision, row_number() OVER (ORDER BY revision DESC) AS n
           FROM plugin_revisions WHERE workspace_id = $1 AND plugin_name = $2 AND NOT ${ADOPTED}) ranked
     WHERE r.workspace_id = $1 AND r.plugin_name = $2 AND r.revision = ranked.revision AND r.tarball_kept <> (ranked.n <= $3)`,
    [workspaceId, plugin, keep],
  );
}

/**
 * A rollback succeeded: `revision` is active again and the one it replaced is `rolled_back`
 * (SPEC §9). Idempotent: when `revision` is already active nothing changes.
 */
export async function reactivateRevision(db: Db, workspaceId: string, plugin: string, revision: number, operationId: string): Promise<void> {
  await transaction(db, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1 || $2))', [workspaceId, plugin]);
    await client.query(
      `UPDATE plugin_revisions SET status = 'rolled_back'
       WHERE workspace_id = $1 AND plugin_name = $2 AND status = 'active' AND revision <> $3`,
      [workspaceId, plugin, revision],
    );
    await client.query(`UPDATE plugin_revisions SET status = 'active' WHERE workspace_id = $1 AND plugin_name = $2 AND revision = $3`, [
      workspaceId,
      plugin,
      revision,
    ]);
    await client.query('UPDATE plugin_operations SET revision = $2 WHERE id = $1', [operationId, revision]);
  });
}

/** The plugin was uninstalled: its active revision is `removed`. */
export async function markRevisionRemoved(db: Queryable, workspaceId: string, plugin: string): Promise<void> {
  await query(db, `UPDATE plugin_revisions SET status = 'removed' WHERE workspace_id = $1 AND plugin_name = $2 AND status = 'active'`, [workspaceId, plugin]);
}

/** Newest first; empty when the workspace never had the plugin. */
export async function listRevisions(db: Queryable, workspaceId: string, plugin: string): Promise<PluginRevision[]> {
  const rows = await query<Row>(db, 'SELECT * FROM plugin_revisions WHERE workspace_id = $1 AND plugin_name = $2 ORDER BY revision DESC', [
    workspaceId,
    plugin,
  ]);
  return rows.map(toRevision);
}

export async function getRevision(db: Queryable, workspaceId: string, plugin: string, revision: number): Promise<PluginRevision | null> {
  const rows = await query<Row>(db, 'SELECT * FROM plugin_revisions WHERE workspace_id = $1 AND plugin_name = $2 AND revision = $3', [
    workspaceId,
    plugin,
    revision,
  ]);
  return rows[0] ? toRevision(rows[0]) : null;
}

export async function activeRevision(db: Queryable, workspaceId: string, plugin: string): Promise<PluginRevision | null> {
  const rows = await query<Row>(db, `SELECT * FROM plugin_revisions WHERE workspace_id = $1 AND plugin_name = $2 AND status = 'active'`, [workspaceId, plugin]);
  return rows[0] ? toRevision(rows[0]) : null;
}

/** Every active revision on the workspace, by plugin. */
export async function activeRevisionsOn(db: Queryable, workspaceId: string): Promise<Map<string, PluginRevision>> {
  const rows = await query<Row>(db, `SELECT * FROM plugin_revisions WHERE workspace_id = $1 AND status = 'active'`, [workspaceId]);
  return new Map(rows.map((r) => [r.plugin_name, toRevision(r)]));
}

/**
 * Content hashes whose tarball no kept revision of any workspace names any more and that no
 * cleanup deleted yet: at most `limit`, each once.
 */
export async function expiredTarballs(db: Queryable, limit: number): Promise<string[]> {
  const rows = await query<{ sha256: string }>(
    db,
    `SELECT DISTINCT r.sha256 FROM plugin_revisions r
     WHERE NOT r.tarball_kept AND NOT r.tarball_deleted
       AND NOT EXISTS (SELECT 1 FROM plugin_revisions k WHERE k.sha256 = r.sha256 AND k.tarball_kept)
     LIMIT $1`,
    [limit],
  );
  return rows.map((r) => r.sha256);
}

/** The tarballs of these hashes are gone from the bucket (a kept revision that names one again keeps its own copy). */
export async function markTarballsDeleted(db: Queryable, sha256s: readonly string[]): Promise<void> {
  if (sha256s.length === 0) return;
  await query(db, 'UPDATE plugin_revisions SET tarball_deleted = true WHERE sha256 = ANY($1) AND NOT tarball_kept', [sha256s]);
}

/** The files Stage recorded on the operation; null before Stage ran. */
export async function stagedFiles(db: Queryable, operationId: string): Promise<RevisionFile[] | null> {
  const rows = await query<{ staged_files: RevisionFile[] | null }>(db, 'SELECT staged_files FROM plugin_operations WHERE id = $1', [operationId]);
  return rows[0]?.staged_files ?? null;
}
