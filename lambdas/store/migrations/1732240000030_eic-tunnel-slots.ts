import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * EC2 Instance Connect Endpoint tunnels are capped per endpoint (the service allows 20 at once):
 * one row per slot in use, held by one tunnel until it closes or its lease expires, so a Lambda
 * that died holding a slot frees it by itself (lambdas/store/tunnel-slots.ts).
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(`CREATE TABLE eic_tunnel_slots (
    endpoint_id text NOT NULL,
    slot        integer NOT NULL CHECK (slot >= 0),
    holder      text NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (endpoint_id, slot)
  )`);
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql('DROP TABLE eic_tunnel_slots');
}
