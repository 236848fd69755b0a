import { Buffer } from 'node:buffer';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { InvalidPrivateKey, InvalidPublicKey } from './errors.js';
import { ED25519, formatPublicKey, publicKeyFromBlob, publicKeyFromBytes, type SshPublicKey } from './keys.js';
import { decodeBase64, string, uint32, WireFormatError, WireReader, wrapBase64 } from './wire.js';

/**
 * OpenSSH's private key file (`-----BEGIN OPENSSH PRIVATE KEY-----`, PROTOCOL.key), the file
 * `ssh-keygen -t ed25519` writes: read, so `molecule-plugins sign --key` takes the key a developer
 * already has, and written, so tests and tools can make one without ssh-keygen.
 */

export interface SigningKey {
  readonly publicKey: SshPublicKey;
  readonly privateKey: KeyObject;
}

const BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const END = '-----END OPENSSH PRIVATE KEY-----';
const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const SEED_BYTES = 32;
/** The private section is padded to the cipher's block size; "none" counts as 8. */
const BLOCK_SIZE = 8;

/** Reads an unencrypted OpenSSH ed25519 private key; anything else is an `InvalidPrivateKey` that says what to do. */
export function parsePrivateKey(text: string): SigningKey {
  const trimmed = text.trim();
  if (trimmed.startsWith(`${ED25519} `)) throw new InvalidPrivateKey('this is a public key: give the private key file (the one without .pub)');
  if (!trimmed.startsWith(BEGIN) || !trimmed.endsWith(END)) {
    const label = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(trimmed)?.[1];
    throw new InvalidPrivateKey(
      label
        ? `a "${label}" file is not an OpenSSH private key: make one with ssh-keygen -t ed25519`
        : `not an OpenSSH private key: expected a file that starts with ${BEGIN}`,
    );
  }
  const body = decodeBase64(trimmed.slice(BEGIN.length, -END.length).replace(/\s+/g, ''));
  if (!body) throw new InvalidPrivateKey('the private key is not valid base64');
  try {
    return readKeyFile(body);
  } catch (err) {
    if (err instanceof WireFormatError || err instanceof InvalidPublicKey)
      throw new InvalidPrivateKey(`the private key is damaged or unsupported: ${err.message}`, { cause: err });
    throw err;
  }
}

function readKeyFile(body: Buffer): SigningKey {
  const file = new WireReader(body);
  if (!file.raw(MAGIC.length, 'magic').equals(MAGIC)) throw new InvalidPrivateKey('not an OpenSSH private key (no openssh-key-v1 magic)');
  const cipher = file.text('cipher name');
  file.text('kdf name');
  file.string('kdf options');
  const count = file.uint32('number of keys');
  if (cipher !== 'none') {
    throw new InvalidPrivateKey(
      'the private key is encrypted with a passphrase, which this tool does not ask for: sign with ssh-keygen -Y sign -n molecule-plugin (it asks), or use a key without one',
    );
  }
  if (count !== 1) throw new InvalidPrivateKey(`the file holds ${count} keys; expected exactly one`);
  const publicKey = publicKeyFromBlob(file.string('public key'));
  const section = new WireReader(file.string('private section'));
  file.end('the private key file');

  const check = section.uint32('check');
  if (section.uint32('check') !== check) throw new InvalidPrivateKey('the private key is damaged (its check numbers differ)');
  const type = section.text('key type');
  if (type !== ED25519) throw new InvalidPrivateKey(`unsupported key type ${JSON.stringify(type)}: only ${ED25519} keys can sign plugins`);
  const pk = section.string('ed25519 public key');
  const sk = section.string('ed25519 private key');
  const comment = section.text('comment');
  const padding = section.raw(section.remaining, 'padding');
  if (padding.length >= BLOCK_SIZE || padding.some((byte, i) => byte !== i + 1)) throw new InvalidPrivateKey('the private key is damaged (bad padding)');
  if (!pk.equals(publicKey.bytes) || sk.length !== SEED_BYTES + pk.length || !sk.subarray(SEED_BYTES).equals(pk)) {
    throw new InvalidPrivateKey('the private key is damaged (its halves disagree)');
  }

  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: sk.subarray(0, SEED_BYTES).toString('base64url'), x: pk.toString('base64url') },
    format: 'jwk',
  });
  // The seed decides the key; a file whose stored public half is not the seed's would sign as someone else.
  if (createPublicKey(privateKey).export({ format: 'jwk' }).x !== pk.toString('base64url')) {
    throw new InvalidPrivateKey('the private key does not match its public key');
  }
  return { publicKey: comment ? { ...publicKey, comment } : publicKey, privateKey };
}

/** A fresh ed25519 key pair as ssh-keygen writes it: the private key file's text and the `.pub` line. */
export function generateSigningKey(comment = ''): { privateKey: string; publicKey: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d ?? '', 'base64url');
  const pk = Buffer.from(jwk.x ?? '', 'base64url');
  const publicKey = publicKeyFromBytes(pk, comment);

  const check = randomBytes(4);
  const section = Buffer.concat([check, check, string(ED25519), string(pk), string(Buffer.concat([seed, pk])), string(comment)]);
  const padLength = (BLOCK_SIZE - (section.length % BLOCK_SIZE)) % BLOCK_SIZE;
  const padding = Buffer.from(Array.from({ length: padLength }, (_, i) => i + 1));
  const body = Buffer.concat([MAGIC, string('none'), string('none'), string(''), uint32(1), string(publicKey.blob), string(Buffer.concat([section, padding]))]);
  return { privateKey: `${BEGIN}\n${wrapBase64(body)}\n${END}\n`, publicKey: formatPublicKey(publicKey) };
}
