import { timingSafeEqual, createHash } from 'node:crypto';
import type { Queryable } from '../store/db.js';
import { findToken } from '../store/tokens.js';
import { Unauthorized } from '../shared/errors.js';
import type { Principal } from '../use-cases/access.js';

export function bearerToken(authorization: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1] ?? null;
}

/** Compares digests so neither the length nor the content of the admin token leaks through timing. */
export function isAdminToken(presented: string, adminToken: string | undefined): boolean {
  if (!adminToken) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(adminToken).digest();
  return timingSafeEqual(a, b);
}

export async function authenticate(db: Queryable, adminToken: string | undefined, authorization: string | undefined): Promise<Principal> {
  const token = bearerToken(authorization);
  if (!token) throw new Unauthorized('expected an Authorization header of the form "Bearer <token>"');
  if (isAdminToken(token, adminToken)) return { kind: 'admin', prefix: 'admin' };
  const record = await findToken(db, token);
  if (!record?.orgId) throw new Unauthorized('invalid or revoked token');
  if (record.kind === 'workspace' && record.workspaceId) {
    return { kind: 'workspace', orgId: record.orgId, workspaceId: record.workspaceId, prefix: record.prefix };
  }
  if (record.kind === 'org') return { kind: 'org', orgId: record.orgId, prefix: record.prefix };
  throw new Unauthorized('invalid or revoked token');
}
