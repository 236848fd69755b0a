import { fingerprint, parsePublicKey, type TrustDocument, type TrustedSigner, trustDocumentProblems } from '@molecule/plugins-sdk/signing';
import { InvalidRequest } from '../shared/errors.js';
import type { Log } from '../shared/logger.js';
import type { StoredTrust } from '../store/trust.js';
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

type Deps = { workspaces: WorkspaceStore; trust: TrustStore };

export async function readTrust(deps: Deps, input: { principal: Principal; orgId: string }): Promise<TrustView> {
  authorizeOrg(input.principal, input.orgId, await deps.workspaces.orgExists(input.orgId));
  return view(input.orgId, await deps.trust.get(input.orgId));
}

/**
 * Replaces the org's document whole. Every problem is reported at once, as 400 invalid_request
 * naming each (a key that is not ed25519, a principal listed twice or written as a pattern, a
 * window that ends before it starts, a revoked key that is not a fingerprint), and nothing is stored.
 */
export async function replaceTrust(deps: Deps, log: Log, input: { principal: Principal; orgId: string; body: () => TrustDocument }): Promise<TrustView> {
  authorizeOrg(input.principal, input.orgId, await deps.workspaces.orgExists(input.orgId));
  const body = input.body();
  const problems = trustDocumentProblems(body);
  if (problems.length > 0) throw new InvalidRequest(`invalid trust document: ${problems.join('; ')}`);
  const stored = await deps.trust.replace(input.orgId, body);
  log.info('trust replaced', {
    orgId: input.orgId,
    requireSignature: stored.requireSignature,
    signers: stored.signers.length,
    revokedKeys: stored.revokedKeys.length,
  });
  return view(input.orgId, stored);
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
