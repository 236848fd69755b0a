import { fingerprint, parsePublicKey, type TrustDocument, type TrustedSigner, trustDocumentProblems } from '@molecule/plugins-sdk/signing';
import { InvalidRequest, PreconditionFailed } from '../shared/errors.js';
import type { Log } from '../shared/logger.js';
import { NO_TRUST_VERSION, type StoredTrust } from '../store/trust.js';
import { authorizeOrg, type Principal } from './access.js';
import type { TrustStore, WorkspaceStore } from './ports.js';

/** An org's trust in plugin signers (SPEC §11): its own org token or the admin token. */

/** The document as GET answers it: each signer with its key's fingerprint, as `ssh-keygen -l` prints it. */
export interface TrustView {
  orgId: string;
  requireSignature: boolean;
  signers: Array<TrustedSigner & { fingerprint: string }>;
  revokedKeys: string[];
  /** When it was last put; null: never (nothing trusted, no signature required). */
  updatedAt: string | null;
}

/** A document with its ETag: the routes send it as a header, and a conditional PUT names it in `If-Match`. */
export interface VersionedTrust {
  trust: TrustView;
  etag: string;
}

const etagOf = (version: string) => `"${version}"`;

type Deps = { workspaces: WorkspaceStore; trust: TrustStore };

export async function readTrust(deps: Deps, input: { principal: Principal; orgId: string }): Promise<VersionedTrust> {
  authorizeOrg(input.principal, input.orgId, await deps.workspaces.orgExists(input.orgId));
  return versioned(input.orgId, await deps.trust.get(input.orgId));
}

/**
 * Replaces the org's document whole. Every problem is reported at once, as 400 invalid_request
 * naming each (a key that is not ed25519, a principal listed twice or written as a pattern, a
 * window that ends before it starts, a revoked key that is not a fingerprint), and nothing is stored.
 * With `ifMatch` (the ETag the caller read) it replaces only that version: a signer added or a key
 * revoked by someone else in between is not silently undone, and the caller gets 412 instead.
 */
export async function replaceTrust(
  deps: Deps,
  log: Log,
  input: { principal: Principal; orgId: string; body: () => TrustDocument; ifMatch?: string },
): Promise<VersionedTrust> {
  authorizeOrg(input.principal, input.orgId, await deps.workspaces.orgExists(input.orgId));
  const body = input.body();
  const problems = trustDocumentProblems(body);
  if (problems.length > 0) throw new InvalidRequest(`invalid trust document: ${problems.join('; ')}`);
  const ifVersion = input.ifMatch === undefined ? undefined : versionOf(input.ifMatch);
  const stored = await deps.trust.replace(input.orgId, body, ifVersion);
  if (!stored) {
    const now = versioned(input.orgId, await deps.trust.get(input.orgId)).etag;
    throw new PreconditionFailed(`the trust document changed since it was read (If-Match ${input.ifMatch}, now ${now}): read it again and reapply the change`, {
      etag: now,
    });
  }
  log.info('trust replaced', {
    orgId: input.orgId,
    requireSignature: stored.requireSignature,
    signers: stored.signers.length,
    revokedKeys: stored.revokedKeys.length,
  });
  return versioned(input.orgId, stored);
}

/** `If-Match` names one ETag, quoted as GET sent it; anything else matches no version (412). */
function versionOf(ifMatch: string): string {
  const match = /^\s*(?:W\/)?"(\d{1,20})"\s*$/.exec(ifMatch);
  return match?.[1] ?? 'unmatchable';
}

function versioned(orgId: string, trust: StoredTrust | null): VersionedTrust {
  return { trust: view(orgId, trust), etag: etagOf(trust?.version ?? NO_TRUST_VERSION) };
}

function view(orgId: string, trust: StoredTrust | null): TrustView {
  return {
    orgId,
    requireSignature: trust?.requireSignature ?? false,
    signers: (trust?.signers ?? []).map((signer) => ({ ...signer, fingerprint: fingerprint(parsePublicKey(signer.publicKey)) })),
    revokedKeys: trust?.revokedKeys ?? [],
    updatedAt: trust?.updatedAt ?? null,
  };
}
