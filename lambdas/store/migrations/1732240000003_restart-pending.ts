import type { MigrationBuilder } from 'node-pg-migrate';

/** The host changed but its restart failed: the next change restarts even when it alone would not. */
export function up(pgm: MigrationBuilder): void {
  pgm.sql('ALTER TABLE workspaces ADD COLUMN restart_pending boolean NOT NULL DEFAULT false');
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql('ALTER TABLE workspaces DROP COLUMN restart_pending');
}
