import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * What an operation was asked to do, hashed, so a reused `Idempotency-Key` on a different
 * request is refused instead of answering with another request's result.
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql('ALTER TABLE plugin_operations ADD COLUMN request_hash text');
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql('ALTER TABLE plugin_operations DROP COLUMN request_hash');
}
