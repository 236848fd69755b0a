import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * SPEC §11: an org's trust in plugin signers, one document per org, so that PUT replaces it in one
 * statement and Stage reads it in one. `signers` holds `{principal, publicKey, validAfter?,
 * validBefore?}` as they were put (checked by the API before they are stored: ed25519 keys, one
 * entry per principal, windows that end after they start); `revoked_keys` holds fingerprints
 * (`SHA256:…`). No row: nothing trusted and no signature required.
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(`
    CREATE TABLE org_plugin_trust (
      org_id             text PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
      require_signature  boolean NOT NULL DEFAULT false,
      signers            jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(signers) = 'array'),
      revoked_keys       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(revoked_keys) = 'array'),
      updated_at         timestamptz NOT NULL DEFAULT now()
    );
  `);
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql('DROP TABLE org_plugin_trust;');
}
