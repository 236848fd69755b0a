import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * SPEC §12, drift: a verify keeps what it found on its operation (`verify`), a repair what it
 * changed (`repair`); each workspace remembers when it was last verified and whether that verify
 * found drift, so the scheduled sweep takes the least recently verified first (the partial index)
 * and publishes how many are drifted. An adopting repair records one revision per plugin it
 * adopts, so a revision is unique per operation and plugin, no longer per operation.
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(`
    ALTER TABLE plugin_operations ADD COLUMN verify jsonb, ADD COLUMN repair jsonb;
    ALTER TABLE workspaces ADD COLUMN last_verified_at timestamptz, ADD COLUMN drifted boolean;
    CREATE INDEX workspaces_least_recently_verified_idx ON workspaces (last_verified_at ASC NULLS FIRST, id) WHERE status <> 'removed';
    ALTER TABLE plugin_revisions
      DROP CONSTRAINT plugin_revisions_operation_id_key,
      ADD CONSTRAINT plugin_revisions_operation_plugin_key UNIQUE (operation_id, plugin_name);
  `);
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql(`
    DELETE FROM plugin_revisions r WHERE EXISTS (
      SELECT 1 FROM plugin_revisions o WHERE o.operation_id = r.operation_id AND o.plugin_name < r.plugin_name);
    ALTER TABLE plugin_revisions
      DROP CONSTRAINT plugin_revisions_operation_plugin_key,
      ADD CONSTRAINT plugin_revisions_operation_id_key UNIQUE (operation_id);
    DROP INDEX workspaces_least_recently_verified_idx;
    ALTER TABLE workspaces DROP COLUMN last_verified_at, DROP COLUMN drifted;
    DELETE FROM plugin_operations WHERE kind IN ('verify', 'repair');
    ALTER TABLE plugin_operations DROP COLUMN verify, DROP COLUMN repair;
  `);
}
