import type { TrustDocument, TrustedSigner } from '@molecule/plugins-sdk/signing';
import type { Queryable } from './db.js';
import { query } from './db.js';

/** An org's trust document as stored (SPEC §11), with when it was last replaced. */
export interface StoredTrust extends TrustDocument {
  signers: TrustedSigner[];
  revokedKeys: string[];
  updatedAt: string;
}

interface Row {
  require_signature: boolean;
  signers: TrustedSigner[];
  revoked_keys: string[];
  updated_at: Date;
}

const toTrust = (r: Row): StoredTrust => ({
  requireSignature: r.require_signature,
  signers: r.signers,
  revokedKeys: r.revoked_keys,
  updatedAt: r.updated_at.toISOString(),
});

/** The org's trust document; null when it never put one (nothing trusted, no signature required). */
export async function getTrust(db: Queryable, orgId: string): Promise<StoredTrust | null> {
  const rows = await query<Row>(db, 'SELECT require_signature, signers, revoked_keys, updated_at FROM org_plugin_trust WHERE org_id = $1', [orgId]);
  return rows[0] ? toTrust(rows[0]) : null;
}

/**
 * Replaces the org's trust document whole, in one statement: a Stage reading it sees the old
 * document or the new one, never a mix. The caller checked it (`trustDocumentProblems`).
 */
export async function replaceTrust(db: Queryable, orgId: string, trust: TrustDocument): Promise<StoredTrust> {
  const signers = trust.signers.map(({ principal, publicKey, validAfter, validBefore }) => ({
    principal,
    publicKey,
    ...(validAfter !== undefined ? { validAfter } : {}),
    ...(validBefore !== undefined ? { validBefore } : {}),
  }));
  const [row] = await query<Row>(
    db,
    `INSERT INTO org_plugin_trust (org_id, require_signature, signers, revoked_keys) VALUES ($1, $2, $3, $4)
     ON CONFLICT (org_id) DO UPDATE SET require_signature = EXCLUDED.require_signature, signers = EXCLUDED.signers,
       revoked_keys = EXCLUDED.revoked_keys, updated_at = now()
     RETURNING require_signature, signers, revoked_keys, updated_at`,
    [orgId, trust.requireSignature, JSON.stringify(signers), JSON.stringify(trust.revokedKeys ?? [])],
  );
  return toTrust(row as Row);
}
