import { Buffer } from 'node:buffer';
import { createHash, sign, verify } from 'node:crypto';
import { InvalidPublicKey } from './errors.js';
import { ED25519, type Fingerprint, fingerprint, publicKeyFromBlob, publicKeyObject, type SshPublicKey } from './keys.js';
import { parsePrivateKey, type SigningKey } from './private-key.js';
import { decodeBase64, string, uint32, WireFormatError, WireReader, wrapBase64 } from './wire.js';

/**
 * SSH signatures (OpenSSH PROTOCOL.sshsig): what `ssh-keygen -Y sign` makes and `-Y verify`
 * checks, and what git uses for `gpg.format=ssh`. Only ed25519 keys; node:crypto does the
 * elliptic-curve work.
 */

export const HASH_ALGORITHMS = ['sha512', 'sha256'] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];

/**
 * An ed25519 signature's armor is under 400 bytes. Larger input is refused before it is decoded,
 * so a caller may read at most this much of a `plugin.sig` (a 1 MB one is malformed, not work).
 */
export const MAX_SIGNATURE_BYTES = 8 * 1024;

const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';
const MAGIC = Buffer.from('SSHSIG', 'latin1');
const VERSION = 1;
const ED25519_SIGNATURE_BYTES = 64;

export interface SshSignature {
  readonly publicKey: SshPublicKey;
  readonly fingerprint: Fingerprint;
  readonly namespace: string;
  readonly hashAlgorithm: HashAlgorithm;
  /** The raw ed25519 signature over the signed data (PROTOCOL.sshsig §3). */
  readonly signature: Buffer;
}

/** Why a signature was refused, in SPEC §11's words; each failure also says how in `message`. */
export type SignatureFailureReason = 'malformed' | 'wrong_namespace' | 'bad_signature';

export interface SignatureFailure {
  readonly ok: false;
  readonly reason: SignatureFailureReason;
  readonly message: string;
  /** Of the key the signature names, whenever that much of it could be read (an RSA key's too). */
  readonly fingerprint?: Fingerprint;
}

export type ParsedSignature = { readonly ok: true; readonly signature: SshSignature } | SignatureFailure;
export type Verification = { readonly ok: true; readonly signature: SshSignature } | SignatureFailure;

/** Reads an armored signature; every way it can be damaged or unsupported is `malformed` with a message. */
export function parseSignature(armor: string | Uint8Array): ParsedSignature {
  const size = typeof armor === 'string' ? Buffer.byteLength(armor, 'utf8') : armor.length;
  if (size > MAX_SIGNATURE_BYTES) return oversized(size);
  const blob = dearmor(typeof armor === 'string' ? armor : Buffer.from(armor).toString('utf8'));
  if (typeof blob === 'string') return malformed(blob);

  const reader = new WireReader(blob);
  let keyFingerprint: Fingerprint | undefined;
  try {
    if (!reader.raw(MAGIC.length, 'magic').equals(MAGIC)) return malformed('not an SSH signature (no SSHSIG magic)');
    const version = reader.uint32('version');
    if (version !== VERSION) return malformed(`unsupported SSH signature version ${version} (only ${VERSION})`);
    const keyBlob = reader.string('public key');
    keyFingerprint = fingerprint(keyBlob);
    const publicKey = publicKeyFromBlob(keyBlob);
    const namespace = reader.text('namespace');
    reader.string('reserved');
    const hashAlgorithm = reader.text('hash algorithm');
    const signatureField = new WireReader(reader.string('signature'));
    reader.end('the signature');

    const signatureType = signatureField.text('signature type');
    const signature = signatureField.string('ed25519 signature');
    signatureField.end('the signature field');
    if (namespace === '') return malformed('the signature has an empty namespace', keyFingerprint);
    if (!isHashAlgorithm(hashAlgorithm)) {
      return malformed(`unsupported hash algorithm ${JSON.stringify(hashAlgorithm)} (only ${HASH_ALGORITHMS.join(' or ')})`, keyFingerprint);
    }
    if (signatureType !== ED25519) return malformed(`a ${JSON.stringify(signatureType)} signature from an ${ED25519} key`, keyFingerprint);
    if (signature.length !== ED25519_SIGNATURE_BYTES) {
      return malformed(`an ed25519 signature is ${ED25519_SIGNATURE_BYTES} bytes, not ${signature.length}`, keyFingerprint);
    }
    return { ok: true, signature: { publicKey, fingerprint: keyFingerprint, namespace, hashAlgorithm, signature: Buffer.from(signature) } };
  } catch (err) {
    if (err instanceof WireFormatError) return malformed(`the signature is damaged: ${err.message}`, keyFingerprint);
    if (err instanceof InvalidPublicKey) return malformed(`the signing key: ${err.message}`, keyFingerprint);
    throw err;
  }
}

/**
 * Checks a signature over `message` for the namespace the caller expects, as `ssh-keygen -Y
 * verify -n <namespace>` does (whose key it is, and whether that key is trusted, is `trust.ts`'s).
 */
export function verifySignature(input: { armor: string | Uint8Array; message: string | Uint8Array; namespace: string }): Verification {
  const parsed = parseSignature(input.armor);
  if (!parsed.ok) return parsed;
  const { signature } = parsed;
  if (signature.namespace !== input.namespace) {
    return {
      ok: false,
      reason: 'wrong_namespace',
      message: `the signature is for namespace ${JSON.stringify(signature.namespace)}, not ${JSON.stringify(input.namespace)}`,
      fingerprint: signature.fingerprint,
    };
  }
  const data = signedData(input.namespace, signature.hashAlgorithm, input.message);
  if (!verifies(data, signature)) {
    return {
      ok: false,
      reason: 'bad_signature',
      message: `the signature by ${signature.fingerprint} does not verify over this message`,
      fingerprint: signature.fingerprint,
    };
  }
  return parsed;
}

/**
 * Signs `message` as `ssh-keygen -Y sign -n <namespace> [-O hashalg=…]` does, with an unencrypted
 * OpenSSH ed25519 private key (the file's text, or one already read), and returns the armor in
 * ssh-keygen's layout.
 */
export function signMessage(input: {
  privateKey: string | SigningKey;
  message: string | Uint8Array;
  namespace: string;
  hashAlgorithm?: HashAlgorithm;
}): string {
  const { namespace, hashAlgorithm = 'sha512' } = input;
  if (namespace === '') throw new RangeError('an SSH signature needs a namespace');
  const key = typeof input.privateKey === 'string' ? parsePrivateKey(input.privateKey) : input.privateKey;
  const signature = sign(null, signedData(namespace, hashAlgorithm, input.message), key.privateKey);
  const blob = Buffer.concat([
    MAGIC,
    uint32(VERSION),
    string(key.publicKey.blob),
    string(namespace),
    string(''),
    string(hashAlgorithm),
    string(Buffer.concat([string(ED25519), string(signature)])),
  ]);
  return `${BEGIN}\n${wrapBase64(blob)}\n${END}\n`;
}

/**
 * What the key signs (PROTOCOL.sshsig §3): the magic, the namespace, an empty reserved field, the
 * hash algorithm and the message's hash. OpenSSH verifies with an empty reserved field whatever the
 * signature carries, and so does this.
 */
function signedData(namespace: string, hashAlgorithm: HashAlgorithm, message: string | Uint8Array): Buffer {
  const digest = createHash(hashAlgorithm).update(message).digest();
  return Buffer.concat([MAGIC, string(namespace), string(''), string(hashAlgorithm), string(digest)]);
}

function verifies(data: Buffer, signature: SshSignature): boolean {
  try {
    return verify(null, data, publicKeyObject(signature.publicKey), signature.signature);
  } catch {
    // A 32-byte string that is not a curve point: no signature can verify under it.
    return false;
  }
}

/**
 * The blob inside the armor, or why there is none. As ssh-keygen: the header, a line break (LF
 * or CRLF), base64 in lines of any length, a line break and the footer; unlike it, whitespace
 * around the armor is allowed and anything else after the footer is not.
 */
function dearmor(armor: string): Buffer | string {
  const text = armor.trim();
  if (!text.startsWith(BEGIN)) return `not an armored SSH signature: it must start with ${BEGIN}`;
  if (!text.endsWith(END)) return `the signature is truncated: it must end with ${END}`;
  const inner = text.slice(BEGIN.length, -END.length);
  const lines = /^\r?\n([\s\S]*)\r?\n$/.exec(inner);
  if (!lines) return 'the armor needs the header and the footer on lines of their own';
  const blob = decodeBase64((lines[1] ?? '').replace(/\s+/g, ''));
  if (!blob || blob.length === 0) return 'the signature is not valid base64';
  return blob;
}

/** A signature of `size` bytes, past MAX_SIGNATURE_BYTES: refused for its size, unread (a caller may have read only its first bytes). */
export function oversized(size: number): SignatureFailure {
  return malformed(`the signature is ${size} bytes; an SSH signature is at most ${MAX_SIGNATURE_BYTES}`);
}

function malformed(message: string, keyFingerprint?: Fingerprint): SignatureFailure {
  return keyFingerprint ? { ok: false, reason: 'malformed', message, fingerprint: keyFingerprint } : { ok: false, reason: 'malformed', message };
}

function isHashAlgorithm(value: string): value is HashAlgorithm {
  return (HASH_ALGORITHMS as readonly string[]).includes(value);
}
