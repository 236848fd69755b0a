import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from './db.js';
import { query } from './db.js';

export type TokenKind = 'admin' | 'org' | 'workspace';

export interface TokenRecord {
  kind: TokenKind;
  prefix: string;
  orgId: string | null;
  workspaceId: string | null;
}

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** Tokens look like `mpd_<kind>_<random>`; the stored prefix lets ops recognise one without the secret. */
export function generateToken(kind: TokenKind): { token: string; prefix: string } {
  const token = `mpd_${kind[0]}_${randomBytes(24).toString('base64url')}`;
  return { token, prefix: token.slice(0, 14) };
}

export async function mintToken(
  db: Queryable,
  kind: Exclude<TokenKind, 'admin'>,
  scope: { orgId: string; workspaceId?: string },
): Promise<{ token: string; prefix: string }> {
  const { token, prefix } = generateToken(kind);
  await query(db, 'INSERT INTO auth_tokens (token_hash, prefix, kind, org_id, workspace_id) VALUES ($1, $2, $3, $4, $5)', [
    hashToken(token),
    prefix,
    kind,
    scope.orgId,
    scope.workspaceId ?? null,
  ]);
  return { token, prefix };
}

/**
 * Looks a presented token up by its hash; revoked tokens never match. `last_used_at` is
 * refreshed at most once a minute, so a busy token does not turn every request into a write.
 */
export async function findToken(db: Queryable, token: string): Promise<TokenRecord | null> {
  const rows = await query<{ kind: TokenKind; prefix: string; org_id: string | null; workspace_id: string | null }>(
    db,
    `WITH found AS (
       SELECT id, kind, prefix, org_id, workspace_id, last_used_at FROM auth_tokens
       WHERE token_hash = $1 AND revoked_at IS NULL
     ), touched AS (
       UPDATE auth_tokens SET last_used_at = now()
       WHERE id IN (SELECT id FROM found WHERE last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
     )
     SELECT kind, prefix, org_id, workspace_id FROM found`,
    [hashToken(token)],
  );
  const row = rows[0];
  return row ? { kind: row.kind, prefix: row.prefix, orgId: row.org_id, workspaceId: row.workspace_id } : null;
}

/** Revokes the live token(s) shown to ops by this prefix; returns how many. */
export async function revokeTokensByPrefix(db: Queryable, prefix: string): Promise<number> {
  const rows = await query(db, 'UPDATE auth_tokens SET revoked_at = now() WHERE prefix = $1 AND revoked_at IS NULL RETURNING 1', [prefix]);
  return rows.length;
}

export async function revokeToken(db: Queryable, token: string): Promise<boolean> {
  const rows = await query(db, 'UPDATE auth_tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL RETURNING 1', [hashToken(token)]);
  return rows.length > 0;
}
