import { Buffer } from 'node:buffer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidPublicKey } from '../../../../packages/sdk/src/signing/errors.js';
import { fingerprint, formatPublicKey, parsePublicKey } from '../../../../packages/sdk/src/signing/keys.js';
import { string } from '../../../../packages/sdk/src/signing/wire.js';
import { generateKey, type KeyFiles, keygenFingerprint, scratch } from '../../../support/ssh-keygen.js';

const files = scratch();
let alice: KeyFiles;
let rsa: KeyFiles;
let ecdsa: KeyFiles;

beforeAll(() => {
  alice = generateKey(files.dir, 'alice', { comment: 'alice@laptop with spaces' });
  rsa = generateKey(files.dir, 'rsa', { type: 'rsa' });
  ecdsa = generateKey(files.dir, 'ecdsa', { type: 'ecdsa' });
});
afterAll(() => files.remove());

const aliceBlob = () => parsePublicKey(alice.publicKey).blob;
const ed25519Line = (blob: Buffer) => `ssh-ed25519 ${blob.toString('base64')}`;

describe('ssh-ed25519 public keys', () => {
  it('reads the .pub line ssh-keygen writes, comment and all', () => {
    const key = parsePublicKey(alice.publicKey);
    expect(key.type).toBe('ssh-ed25519');
    expect(key.bytes).toHaveLength(32);
    expect(key.comment).toBe('alice@laptop with spaces');
    expect(formatPublicKey(key)).toBe(alice.publicKey);
  });

  it('reads a key without a comment, and surrounding whitespace', () => {
    const [type, base64] = alice.publicKey.split(' ');
    const key = parsePublicKey(`  ${type} ${base64}\n`);
    expect(key.comment).toBeUndefined();
    expect(formatPublicKey(key)).toBe(`${type} ${base64}`);
  });

  it('has the fingerprint ssh-keygen -l prints', () => {
    expect(fingerprint(parsePublicKey(alice.publicKey))).toBe(keygenFingerprint(`${alice.privatePath}.pub`));
  });

  it('fingerprints a key blob of any type as ssh-keygen does', () => {
    const blob = Buffer.from(rsa.publicKey.split(' ')[1] ?? '', 'base64');
    expect(fingerprint(blob)).toBe(keygenFingerprint(`${rsa.privatePath}.pub`));
  });

  it.each([
    ['an RSA key', () => rsa.publicKey, /unsupported key type "ssh-rsa": only ssh-ed25519 keys can sign plugins/],
    ['an ECDSA key', () => ecdsa.publicKey, /unsupported key type "ecdsa-sha2-nistp256": only ssh-ed25519/],
    ['a security-key ed25519 key', () => `sk-ssh-ed25519@openssh.com ${alice.publicKey.split(' ')[1]}`, /unsupported key type "sk-ssh-ed25519@openssh.com"/],
    ['an RSA key labelled ssh-ed25519', () => `ssh-ed25519 ${rsa.publicKey.split(' ')[1]}`, /unsupported key type "ssh-rsa"/],
    ['a key without its base64', () => 'ssh-ed25519', /a public key is one line/],
    ['two lines', () => `${alice.publicKey}\n${alice.publicKey}`, /a public key is one line/],
    ['garbled base64', () => alice.publicKey.replace('AAAA', 'AA!A'), /not valid base64/],
    ['a truncated key', () => ed25519Line(aliceBlob().subarray(0, 40)), /damaged/],
    ['a key with trailing bytes', () => ed25519Line(Buffer.concat([aliceBlob(), Buffer.from([0])])), /trailing/],
    ['a 31-byte key', () => ed25519Line(Buffer.concat([string('ssh-ed25519'), string(Buffer.alloc(31, 1))])), /32 bytes, not 31/],
    ['a private key', () => alice.privateKey, /a public key is one line/],
  ])('refuses %s with a message that says why', (_, line, message) => {
    expect(() => parsePublicKey(line())).toThrow(InvalidPublicKey);
    expect(() => parsePublicKey(line())).toThrow(message);
  });
});
