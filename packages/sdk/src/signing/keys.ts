import { Buffer } from 'node:buffer';
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { InvalidPublicKey } from './errors.js';
import { decodeBase64, string, WireFormatError, WireReader } from './wire.js';

/** The one key type that signs plugins (SPEC §11): what every developer's `ssh-keygen -t ed25519` makes. */
export const ED25519 = 'ssh-ed25519';

/** A key's fingerprint as `ssh-keygen -l` prints it. */
export type Fingerprint = `SHA256:${string}`;

export const FINGERPRINT_RE = /^SHA256:[A-Za-z0-9+/]{43}$/;

export interface SshPublicKey {
  readonly type: typeof ED25519;
  /** The raw 32-byte ed25519 public key. */
  readonly bytes: Buffer;
  /** Its SSH wire encoding (`string "ssh-ed25519"`, `string key`): what fingerprints and signatures are made over. */
  readonly blob: Buffer;
  readonly comment?: string;
}

const ED25519_KEY_BYTES = 32;

/**
 * Parses an `ssh-ed25519 AAAA… [comment]` line, as in a `.pub` file or authorized_keys. Any other
 * key type, a damaged encoding or a key whose encoded type disagrees with its label is an
 * `InvalidPublicKey` that says which.
 */
export function parsePublicKey(line: string): SshPublicKey {
  const match = /^([^\s]+)[ \t]+([^\s]+)(?:[ \t]+([^\r\n]*))?$/.exec(line.trim());
  if (!match) throw new InvalidPublicKey('a public key is one line: "ssh-ed25519 AAAA… [comment]"');
  const [, type = '', base64 = '', comment] = match;
  if (type !== ED25519) throw new InvalidPublicKey(unsupportedType(type));
  const blob = decodeBase64(base64);
  if (!blob) throw new InvalidPublicKey('the public key is not valid base64');
  const key = publicKeyFromBlob(blob);
  const trimmed = comment?.trim();
  return trimmed ? { ...key, comment: trimmed } : key;
}

/** Reads a key from its wire encoding (inside a signature, say). */
export function publicKeyFromBlob(blob: Uint8Array): SshPublicKey {
  try {
    const reader = new WireReader(blob);
    const type = reader.text('key type');
    if (type !== ED25519) throw new InvalidPublicKey(unsupportedType(type));
    const bytes = reader.string('ed25519 key');
    reader.end('the public key');
    if (bytes.length !== ED25519_KEY_BYTES) throw new InvalidPublicKey(`an ed25519 public key is ${ED25519_KEY_BYTES} bytes, not ${bytes.length}`);
    return { type: ED25519, bytes: Buffer.from(bytes), blob: Buffer.from(blob) };
  } catch (err) {
    if (err instanceof WireFormatError) throw new InvalidPublicKey(`the public key is damaged: ${err.message}`, { cause: err });
    throw err;
  }
}

export function publicKeyFromBytes(bytes: Uint8Array, comment?: string): SshPublicKey {
  return { ...publicKeyFromBlob(Buffer.concat([string(ED25519), string(bytes)])), ...(comment ? { comment } : {}) };
}

/** `SHA256:` and the unpadded base64 of the sha256 of the key's wire encoding, as `ssh-keygen -l` prints it. */
export function fingerprint(keyOrBlob: SshPublicKey | Uint8Array): Fingerprint {
  const blob = keyOrBlob instanceof Uint8Array ? keyOrBlob : keyOrBlob.blob;
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The one-line form `parsePublicKey` reads, with the key's comment unless another is given. */
export function formatPublicKey(key: SshPublicKey, comment = key.comment): string {
  return comment ? `${key.type} ${key.blob.toString('base64')} ${comment}` : `${key.type} ${key.blob.toString('base64')}`;
}

/** The key as node:crypto verifies with it (imported from its raw bytes: no elliptic-curve code of ours). */
export function publicKeyObject(key: SshPublicKey): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.bytes.toString('base64url') }, format: 'jwk' });
}

function unsupportedType(type: string): string {
  const shown = JSON.stringify(type.length > 64 ? `${type.slice(0, 64)}…` : type);
  return `unsupported key type ${shown}: only ${ED25519} keys can sign plugins (make one with ssh-keygen -t ed25519)`;
}
