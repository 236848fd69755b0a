import type { MigrationBuilder } from 'node-pg-migrate';

/** How many uninstalls of a row have failed in a row: the cleanup backs off by it. */
export function up(pgm: MigrationBuilder): void {
  pgm.sql('ALTER TABLE workspace_plugins ADD COLUMN uninstall_attempts integer NOT NULL DEFAULT 0');
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql('ALTER TABLE workspace_plugins DROP COLUMN uninstall_attempts');
}
