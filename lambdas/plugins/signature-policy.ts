import {
  checkPluginSignature,
  type SignatureInvalid as InvalidSignature,
  type SignatureRequired as MissingSignature,
  type TrustDocument,
  type TrustVerdict,
} from '@molecule/plugins-sdk/signing';
import { type ErrorRecord, SignatureInvalid, SignatureRequired, toErrorRecord } from '../shared/errors.js';
import type { SignatureFile } from './spool-archive.js';

/** An org that never put a trust document: nothing trusted, no signature required. */
export const NO_TRUST: TrustDocument = { requireSignature: false, signers: [], revokedKeys: [] };

/**
 * SPEC §11's verdict on a staged plugin at `now` (the caller's clock, never a time the signer
 * gives): `signature` is the install request's `"signature"` when it carried one (it wins over a
 * root plugin.sig, which the request's sender may not control), else the plugin.sig staging read,
 * else none. A plugin.sig past the size limit is malformed for its size, without being read.
 */
export function signatureVerdict(input: { signature: string | SignatureFile | undefined; statement: string; trust: TrustDocument; now: Date }): TrustVerdict {
  const { signature, statement, trust, now } = input;
  if (typeof signature === 'string' || signature === undefined) return checkPluginSignature({ signature, statement, trust, now });
  return checkPluginSignature({ signature: signature.armor, size: signature.size, statement, trust, now });
}

/** A refusal as its documented error: 422 signature_invalid with `reason`, `fingerprint` when known and `statement`, or 403 signature_required. */
export function refusalError(refusal: InvalidSignature | MissingSignature): SignatureInvalid | SignatureRequired {
  if (refusal.code === 'signature_required') return new SignatureRequired(refusal.message);
  const { reason, fingerprint, statement } = refusal;
  return new SignatureInvalid(refusal.message, { reason, ...(fingerprint ? { fingerprint } : {}), statement });
}

/** The refusal as the operation records it: the error record with its context fields. */
export function refusalRecord(err: SignatureInvalid | SignatureRequired): ErrorRecord {
  return { ...toErrorRecord(err), ...err.details };
}
