import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * The per-org cap on operations in flight (429 too_many_operations) counts an org's RUNNING
 * operations on every install and uninstall: a partial index keeps that count to the rows it counts.
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(`CREATE INDEX plugin_operations_in_flight_idx ON plugin_operations (org_id) WHERE status = 'RUNNING'`);
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql('DROP INDEX plugin_operations_in_flight_idx');
}
