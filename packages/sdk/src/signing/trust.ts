import { InvalidPublicKey, InvalidTrustDocument } from './errors.js';
import { type Fingerprint, FINGERPRINT_RE, fingerprint, parsePublicKey } from './keys.js';
import { MAX_SIGNATURE_BYTES, oversized, type SignatureFailureReason, type Verification, verifySignature } from './sshsig.js';
import { SIGNATURE_NAMESPACE } from './statement.js';

/**
 * An org's trust in plugin signers (SPEC §11) and the verdict on one plugin's signature: a pure
 * function of the signature, the statement it was checked against, the trust document and the
 * time of the check (Stage's clock, never one the signer supplies).
 */

export interface TrustedSigner {
  principal: string;
  /** `ssh-ed25519 AAAA… [comment]` */
  publicKey: string;
  /** ISO-8601; the key signs for this principal from this instant on (inclusive, as ssh-keygen's valid-after). */
  validAfter?: string | undefined;
  /** ISO-8601; ...up to this instant (inclusive, as ssh-keygen's valid-before). */
  validBefore?: string | undefined;
}

export interface TrustDocument {
  requireSignature: boolean;
  signers: readonly TrustedSigner[];
  /** Fingerprints (`SHA256:…`); a revoked key is refused whatever the signers say. */
  revokedKeys?: readonly string[] | undefined;
}

export interface Signer {
  principal: string;
  fingerprint: Fingerprint;
}

export type SignatureInvalidReason = SignatureFailureReason | 'revoked_key' | 'unknown_key' | 'key_expired' | 'key_not_yet_valid';

/** 422 `signature_invalid`: its context fields say why, whose key when known, and what was checked. */
export interface SignatureInvalid {
  code: 'signature_invalid';
  reason: SignatureInvalidReason;
  fingerprint?: Fingerprint;
  statement: string;
  message: string;
}

/** 403 `signature_required`. */
export interface SignatureRequired {
  code: 'signature_required';
  message: string;
}

/** Why a verified signature's key is not trusted now. */
export type UntrustedReason = 'unknown_key' | 'key_expired' | 'key_not_yet_valid';

export type TrustVerdict =
  /** Signed by a listed key within its window: install and record the signer. */
  | { verdict: 'trusted'; signer: Signer }
  /** Signed by a key the org does not trust now, and the org does not require signatures: install with the warning. */
  | { verdict: 'untrusted'; reason: UntrustedReason; fingerprint: Fingerprint; warning: `untrusted_signer: ${Fingerprint}` }
  /** No signature, none required: install, no signer. */
  | { verdict: 'unsigned' }
  | { verdict: 'refused'; error: SignatureInvalid | SignatureRequired };

/**
 * SPEC §11's verdict on a plugin's signature (`undefined`: the plugin has none), already checked
 * over `statement` by `verifySignature`. In order: no signature is refused only when required; a
 * revoked key is refused always, even when its signature does not verify (the key is the news);
 * a signature that does not verify is refused always; a key listed for a principal and valid at
 * `now` is trusted (the first such entry names the signer); any other key is refused when
 * signatures are required and a warning otherwise.
 */
export function trustVerdict(input: { signature: Verification | undefined; statement: string; trust: TrustDocument; now: Date }): TrustVerdict {
  const { signature, statement, now } = input;
  const trust = readTrust(input.trust);
  if (signature === undefined) return unsigned(trust);
  const keyFingerprint = signature.ok ? signature.signature.fingerprint : signature.fingerprint;
  if (keyFingerprint && trust.revoked.has(keyFingerprint)) return revokedKey(keyFingerprint, statement);
  if (!signature.ok) return invalid({ reason: signature.reason, fingerprint: keyFingerprint, statement, message: signature.message });
  return keyVerdict(trust, signature.signature.fingerprint, statement, now);
}

/**
 * The same policy for a signature verified earlier over `statement` by the key `fingerprint`
 * (undefined: the plugin was not signed by a trusted key): what a rollback asks of the signer a
 * revision recorded, at the time of the rollback, since the org may have revoked or dropped the
 * key, or begun requiring signatures, since.
 */
export function signerVerdict(input: { fingerprint: Fingerprint | undefined; statement: string; trust: TrustDocument; now: Date }): TrustVerdict {
  const trust = readTrust(input.trust);
  if (input.fingerprint === undefined) return unsigned(trust);
  if (trust.revoked.has(input.fingerprint)) return revokedKey(input.fingerprint, input.statement);
  return keyVerdict(trust, input.fingerprint, input.statement, input.now);
}

type ReadTrust = ReturnType<typeof readTrust>;

function unsigned(trust: ReadTrust): TrustVerdict {
  if (!trust.requireSignature) return { verdict: 'unsigned' };
  return { verdict: 'refused', error: { code: 'signature_required', message: 'this org requires plugins to be signed, and this one has no signature' } };
}

function invalid(error: Omit<SignatureInvalid, 'code' | 'fingerprint'> & { fingerprint: Fingerprint | undefined }): TrustVerdict {
  const { fingerprint: fp, ...rest } = error;
  return { verdict: 'refused', error: { code: 'signature_invalid', ...rest, ...(fp ? { fingerprint: fp } : {}) } };
}

function revokedKey(fp: Fingerprint, statement: string): TrustVerdict {
  return invalid({ reason: 'revoked_key', fingerprint: fp, statement, message: `the signing key ${fp} is revoked` });
}

/** A key that signed: trusted when listed and within its window now, else refused when signatures are required and a warning when not. */
function keyVerdict(trust: ReadTrust, fp: Fingerprint, statement: string, now: Date): TrustVerdict {
  const entries = trust.signers.filter((signer) => signer.fingerprint === fp);
  const current = entries.find((signer) => windowReason(signer, now) === undefined);
  if (current) return { verdict: 'trusted', signer: { principal: current.principal, fingerprint: fp } };

  const [first] = entries;
  const reason: UntrustedReason = first ? (windowReason(first, now) ?? 'unknown_key') : 'unknown_key';
  if (!trust.requireSignature) return { verdict: 'untrusted', reason, fingerprint: fp, warning: `untrusted_signer: ${fp}` };
  const at = now.toISOString();
  const messages: Record<UntrustedReason, string> = {
    unknown_key: `the signing key ${fp} is not one of this org's trusted signers`,
    key_expired: `the signing key ${fp} (${first?.principal}) was trusted until ${first?.validBefore?.toISOString()}; it is ${at}`,
    key_not_yet_valid: `the signing key ${fp} (${first?.principal}) is trusted from ${first?.validAfter?.toISOString()}; it is ${at}`,
  };
  return invalid({ reason, fingerprint: fp, statement, message: messages[reason] });
}

/**
 * Verifies a plugin's signature over its statement (`undefined`: none) and gives the verdict:
 * Stage's and the SDK pull's check. `size` is the whole size of a signature file the caller read
 * only the first MAX_SIGNATURE_BYTES of: past the limit it is malformed, for its real size.
 */
export function checkPluginSignature(input: {
  signature: string | Uint8Array | undefined;
  size?: number | undefined;
  statement: string;
  trust: TrustDocument;
  now: Date;
}): TrustVerdict {
  const { signature, size, statement } = input;
  const verification =
    signature === undefined
      ? undefined
      : size !== undefined && size > MAX_SIGNATURE_BYTES
        ? oversized(size)
        : verifySignature({ armor: signature, message: statement, namespace: SIGNATURE_NAMESPACE });
  return trustVerdict({ signature: verification, statement, trust: input.trust, now: input.now });
}

interface ReadSigner {
  principal: string;
  fingerprint: Fingerprint;
  validAfter: Date | undefined;
  validBefore: Date | undefined;
}

/** The part of the policy that reads a window: not yet valid before `validAfter`, expired after `validBefore`. */
function windowReason(signer: ReadSigner, now: Date): 'key_expired' | 'key_not_yet_valid' | undefined {
  if (signer.validAfter && now < signer.validAfter) return 'key_not_yet_valid';
  if (signer.validBefore && now > signer.validBefore) return 'key_expired';
  return undefined;
}

/**
 * The document as the policy reads it. A stored document was checked when it was put
 * (`checkTrustDocument`); one that still has an unreadable key or time fails here rather than
 * being read as a wider trust than it says.
 */
function readTrust(trust: TrustDocument): { requireSignature: boolean; signers: ReadSigner[]; revoked: Set<string> } {
  const problems: string[] = [];
  const signers = trust.signers.map((signer, i): ReadSigner => {
    const at = `signers[${i}]`;
    return {
      principal: signer.principal,
      fingerprint: keyFingerprint(signer.publicKey, `${at}.publicKey`, problems),
      validAfter: time(signer.validAfter, `${at}.validAfter`, problems),
      validBefore: time(signer.validBefore, `${at}.validBefore`, problems),
    };
  });
  if (problems.length > 0) throw new InvalidTrustDocument(problems);
  return { requireSignature: trust.requireSignature, signers, revoked: new Set(trust.revokedKeys ?? []) };
}

/**
 * Every reason a trust document cannot be stored (PUT replaces it whole, so all are reported at
 * once), or nothing: keys that are not ed25519, principals that are empty or that ssh-keygen would
 * read as patterns or lists (they match exactly here, and the document must be writable as an
 * allowed_signers file), a principal listed twice, times that are not ISO-8601 or a window that
 * ends before it starts, revoked keys that are not fingerprints.
 */
export function trustDocumentProblems(trust: TrustDocument): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  trust.signers.forEach((signer, i) => {
    const at = `signers[${i}]`;
    if (!isPrincipal(signer.principal)) {
      problems.push(
        `${at}.principal ${JSON.stringify(signer.principal)} must be non-empty, without spaces, commas, quotes, or the pattern characters * ? and a leading ! or #`,
      );
    } else if (seen.has(signer.principal)) {
      problems.push(`${at}.principal ${JSON.stringify(signer.principal)} is listed twice`);
    }
    seen.add(signer.principal);
    keyFingerprint(signer.publicKey, `${at}.publicKey`, problems);
    const after = time(signer.validAfter, `${at}.validAfter`, problems);
    const before = time(signer.validBefore, `${at}.validBefore`, problems);
    if (after && before && before <= after) problems.push(`${at}.validBefore must be later than its validAfter`);
  });
  (trust.revokedKeys ?? []).forEach((revoked, i) => {
    if (!FINGERPRINT_RE.test(revoked)) problems.push(`revokedKeys[${i}] ${JSON.stringify(revoked)} is not a fingerprint as ssh-keygen -l prints it (SHA256:…)`);
  });
  return problems;
}

/** Throws `InvalidTrustDocument` listing every problem of `trustDocumentProblems`. */
export function checkTrustDocument(trust: TrustDocument): void {
  const problems = trustDocumentProblems(trust);
  if (problems.length > 0) throw new InvalidTrustDocument(problems);
}

/**
 * A principal matched exactly, and written as is into an allowed_signers file: no whitespace,
 * comma or quote (they split or quote the field there), no `*` or `?` and no leading `!` (ssh-keygen
 * reads those as patterns) and no leading `#` (a comment).
 */
export function isPrincipal(value: string): boolean {
  return /^[^\s,"*?!#][^\s,"*?]*$/.test(value) && !/[\u0000-\u001f\u007f]/.test(value);
}

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * An ISO-8601 date (`2025-01-31`, midnight UTC) or date-time with its offset
 * (`2025-01-31T12:00:00Z`, `…+02:00`); no local times, and no dates `Date.parse` would roll over
 * (`2025-02-30`).
 */
export function parseIsoTime(value: string): Date | undefined {
  const match = ISO_8601.exec(value);
  if (!match) return undefined;
  const [, year, month, day, hour = '00', minute = '00', second = '00'] = match;
  const date = new Date(value);
  const calendar = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)));
  const fieldsExist =
    calendar.getUTCFullYear() === Number(year) &&
    calendar.getUTCMonth() === Number(month) - 1 &&
    calendar.getUTCDate() === Number(day) &&
    calendar.getUTCHours() === Number(hour) &&
    calendar.getUTCMinutes() === Number(minute) &&
    calendar.getUTCSeconds() === Number(second);
  return fieldsExist && !Number.isNaN(date.getTime()) ? date : undefined;
}

function keyFingerprint(publicKey: string, at: string, problems: string[]): Fingerprint {
  try {
    return fingerprint(parsePublicKey(publicKey));
  } catch (err) {
    if (!(err instanceof InvalidPublicKey)) throw err;
    problems.push(`${at}: ${err.message}`);
    return 'SHA256:';
  }
}

function time(value: string | undefined, at: string, problems: string[]): Date | undefined {
  if (value === undefined) return undefined;
  const date = parseIsoTime(value);
  if (!date) problems.push(`${at} ${JSON.stringify(value)} is not an ISO-8601 date or date-time with an offset`);
  return date;
}
