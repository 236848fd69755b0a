import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * SPEC §4: an external workspace pulls its plugins itself and reports them; such a row is a record
 * of what the agent has (`pull`), not of something the platform delivered (`push`).
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(`ALTER TABLE workspace_plugins ADD COLUMN installed_via text NOT NULL DEFAULT 'push' CHECK (installed_via IN ('push', 'pull'))`);
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql('ALTER TABLE workspace_plugins DROP COLUMN installed_via');
}
