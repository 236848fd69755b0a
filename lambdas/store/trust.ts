import type { TrustDocument, TrustedSigner } from '@molecule/plugins-sdk/signing';
import type { Queryable } from './db.js';
import { query } from './db.js';

/** An org's trust document as stored (SPEC §11), with when it was last replaced. */
export interface StoredTrust extends TrustDocument {
  signers: TrustedSigner[];
  revokedKeys: string[];
  updatedAt: string;
  /** Changes with every replacement (its time in microseconds): the document's ETag. */
  version: string;
}

interface Row {
  require_signature: boolean;
  signers: TrustedSigner[];
  revoked_keys: string[];
  updated_at: Date;
  version: string;
}

const COLUMNS = `require_signature, signers, revoked_keys, updated_at, (extract(epoch FROM updated_at) * 1000000)::bigint::text AS version`;

const toTrust = (r: Row): StoredTrust => ({
  requireSignature: r.require_signature,
  signers: r.signers,
  revokedKeys: r.revoked_keys,
  updatedAt: r.updated_at.toISOString(),
  version: r.version,
});

/** The org's trust document; null when it never put one (nothing trusted, no signature required). */
export async function getTrust(db: Queryable, orgId: string): Promise<StoredTrust | null> {
  const rows = await query<Row>(db, `SELECT ${COLUMNS} FROM org_plugin_trust WHERE org_id = $1`, [orgId]);
  return rows[0] ? toTrust(rows[0]) : null;
}

/** The version of a document never put (GET's ETag for it): a conditional put of it only creates one. */
export const NO_TRUST_VERSION = '0';

/**
 * Replaces the org's trust document whole, in one statement: a Stage reading it sees the old
 * document or the new one, never a mix. The caller checked it (`trustDocumentProblems`). With
 * `ifVersion`, only over that version: null when the document is no longer (or not yet) that one.
 */
export async function replaceTrust(db: Queryable, orgId: string, trust: TrustDocument, ifVersion?: string): Promise<StoredTrust | null> {
  const signers = trust.signers.map(({ principal, publicKey, validAfter, validBefore }) => ({
    principal,
    publicKey,
    ...(validAfter !== undefined ? { validAfter } : {}),
    ...(validBefore !== undefined ? { validBefore } : {}),
  }));
  const values = [orgId, trust.requireSignature, JSON.stringify(signers), JSON.stringify(trust.revokedKeys ?? [])];
  const insert = 'INSERT INTO org_plugin_trust (org_id, require_signature, signers, revoked_keys) VALUES ($1, $2, $3, $4)';
  const set = 'require_signature = $2, signers = $3, revoked_keys = $4, updated_at = now()';
  // Unconditional, or only over the version the caller read: a change made since is not overwritten.
  const [row] =
    ifVersion === undefined
      ? await query<Row>(db, `${insert} ON CONFLICT (org_id) DO UPDATE SET ${set} RETURNING ${COLUMNS}`, values)
      : ifVersion === NO_TRUST_VERSION
        ? await query<Row>(db, `${insert} ON CONFLICT (org_id) DO NOTHING RETURNING ${COLUMNS}`, values)
        : await query<Row>(
            db,
            `UPDATE org_plugin_trust SET ${set} WHERE org_id = $1 AND (extract(epoch FROM updated_at) * 1000000)::bigint::text = $5 RETURNING ${COLUMNS}`,
            [...values, ifVersion],
          );
  return row ? toTrust(row) : null;
}
