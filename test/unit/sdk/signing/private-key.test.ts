import { Buffer } from 'node:buffer';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidPrivateKey } from '../../../../packages/sdk/src/signing/errors.js';
import { fingerprint, formatPublicKey, parsePublicKey } from '../../../../packages/sdk/src/signing/keys.js';
import { generateSigningKey, parsePrivateKey } from '../../../../packages/sdk/src/signing/private-key.js';
import { verifySignature } from '../../../../packages/sdk/src/signing/sshsig.js';
import { generateKey, type KeyFiles, keygenSign, scratch, sshKeygen } from '../../../support/ssh-keygen.js';

const files = scratch();
let alice: KeyFiles;
let bob: KeyFiles;

beforeAll(() => {
  alice = generateKey(files.dir, 'alice', { comment: 'alice@laptop' });
  bob = generateKey(files.dir, 'bob');
});
afterAll(() => files.remove());

const BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const END = '-----END OPENSSH PRIVATE KEY-----';
const bodyOf = (text: string) => Buffer.from(text.replace(BEGIN, '').replace(END, '').replace(/\s+/g, ''), 'base64');
const fileOf = (body: Buffer) => `${BEGIN}\n${body.toString('base64')}\n${END}\n`;

/** Every occurrence of `from` in `bytes` replaced by `to` (same length). */
function replaceAll(bytes: Buffer, from: Buffer, to: Buffer): Buffer {
  const out = Buffer.from(bytes);
  for (let at = out.indexOf(from); at !== -1; at = out.indexOf(from, at + from.length)) to.copy(out, at);
  return out;
}

describe('OpenSSH private key files', () => {
  it('reads the unencrypted ed25519 key ssh-keygen writes, with its public half and comment', () => {
    const key = parsePrivateKey(alice.privateKey);
    expect(formatPublicKey(key.publicKey)).toBe(alice.publicKey);
    expect(key.publicKey.comment).toBe('alice@laptop');
  });

  it('generates a key pair ssh-keygen reads and signs with', () => {
    const generated = generateSigningKey('gen@example.com');
    const path = files.write('generated', generated.privateKey);
    expect(sshKeygen(['-y', '-f', path]).stdout.trim()).toBe(generated.publicKey);
    const armor = keygenSign(files.dir, path, 'hello');
    expect(verifySignature({ armor, message: 'hello', namespace: 'molecule-plugin' })).toMatchObject({
      ok: true,
      signature: { fingerprint: fingerprint(parsePublicKey(generated.publicKey)) },
    });
    expect(formatPublicKey(parsePrivateKey(generated.privateKey).publicKey)).toBe(generated.publicKey);
  });

  it.each<[string, () => string, RegExp]>([
    ['an encrypted key', () => generateKey(files.dir, 'locked', { passphrase: 'secret' }).privateKey, /encrypted with a passphrase/],
    ['a public key', () => alice.publicKey, /this is a public key: give the private key file/],
    [
      'a PKCS#8 PEM key',
      () => generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      /a "PRIVATE KEY" file is not an OpenSSH private key/,
    ],
    ['text that is no key', () => 'hello', /not an OpenSSH private key/],
    ['a truncated file', () => fileOf(bodyOf(alice.privateKey).subarray(0, 100)), /damaged or unsupported: .* runs past the end/],
    ['garbled base64', () => alice.privateKey.replace(/\n(.{5})./, '\n$1!'), /not valid base64/],
    [
      'a file whose public half is not its seed',
      () => {
        const alicePk = parsePublicKey(alice.publicKey).bytes;
        return fileOf(replaceAll(bodyOf(alice.privateKey), alicePk, parsePublicKey(bob.publicKey).bytes));
      },
      /does not match its public key/,
    ],
  ])('refuses %s, saying why', (_, make, message) => {
    const text = make();
    expect(() => parsePrivateKey(text)).toThrow(InvalidPrivateKey);
    expect(() => parsePrivateKey(text)).toThrow(message);
  });
});
