import { Buffer } from 'node:buffer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidPrivateKey } from '../../../../packages/sdk/src/signing/errors.js';
import { fingerprint, parsePublicKey } from '../../../../packages/sdk/src/signing/keys.js';
import { MAX_SIGNATURE_BYTES, parseSignature, signMessage, verifySignature } from '../../../../packages/sdk/src/signing/sshsig.js';
import { string, uint32, WireReader } from '../../../../packages/sdk/src/signing/wire.js';
import { generateKey, type KeyFiles, keygenFingerprint, keygenSign, keygenVerify, scratch } from '../../../support/ssh-keygen.js';

const NAMESPACE = 'molecule-plugin';
const STATEMENT = `molecule-plugin acc-good 1.0.0 42df081ff83aaa4a0b484a21be6f1fef3132f3bd2f740992707f2329a300eab8 ${'0'.repeat(64)}`;
const OTHER_VERSION = STATEMENT.replace(' 1.0.0 ', ' 1.0.1 ');

const files = scratch();
let alice: KeyFiles;
let rsa: KeyFiles;
let aliceSignature: string;

beforeAll(() => {
  alice = generateKey(files.dir, 'alice');
  rsa = generateKey(files.dir, 'rsa', { type: 'rsa' });
  aliceSignature = keygenSign(files.dir, alice.privatePath, STATEMENT);
});
afterAll(() => files.remove());

const allowedSigners = () => `alice@example.com ${alice.publicKey}\n`;
const aliceFingerprint = () => fingerprint(parsePublicKey(alice.publicKey));
const verify = (armor: string | Buffer, message: string | Buffer = STATEMENT, namespace = NAMESPACE) => verifySignature({ armor, message, namespace });
const keygenAccepts = (armor: string | Buffer, message: string | Buffer = STATEMENT) =>
  keygenVerify(files.dir, { allowedSigners: allowedSigners(), principal: 'alice@example.com', signature: armor, message }).status === 0;

/** The blob's fields (PROTOCOL.sshsig §2), to rebuild a signature with one of them changed. */
interface Fields {
  magic: Buffer;
  version: number;
  publicKey: Buffer;
  namespace: Buffer;
  reserved: Buffer;
  hashAlgorithm: Buffer;
  signature: Buffer;
  trailing: Buffer;
}

function fieldsOf(armor: string): Fields {
  const body = armor.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const reader = new WireReader(Buffer.from(body, 'base64'));
  return {
    magic: reader.raw(6, 'magic'),
    version: reader.uint32('version'),
    publicKey: reader.string('public key'),
    namespace: reader.string('namespace'),
    reserved: reader.string('reserved'),
    hashAlgorithm: reader.string('hash algorithm'),
    signature: reader.string('signature'),
    trailing: reader.raw(reader.remaining, 'rest'),
  };
}

function armorOf(blob: Buffer): string {
  const lines = blob.toString('base64').match(/.{1,70}/g) ?? [];
  return ['-----BEGIN SSH SIGNATURE-----', ...lines, '-----END SSH SIGNATURE-----', ''].join('\n');
}

function rebuilt(armor: string, change: Partial<Fields>): string {
  const f = { ...fieldsOf(armor), ...change };
  return armorOf(
    Buffer.concat([
      f.magic,
      uint32(f.version),
      string(f.publicKey),
      string(f.namespace),
      string(f.reserved),
      string(f.hashAlgorithm),
      string(f.signature),
      f.trailing,
    ]),
  );
}

describe('verifying what ssh-keygen -Y sign makes', () => {
  it('accepts a signature by ssh-keygen -Y sign -n molecule-plugin and names its key', () => {
    const result = verify(aliceSignature);
    expect(result).toMatchObject({ ok: true, signature: { namespace: NAMESPACE, hashAlgorithm: 'sha512', fingerprint: aliceFingerprint() } });
  });

  it('accepts a signature made with -O hashalg=sha256', () => {
    const armor = keygenSign(files.dir, alice.privatePath, STATEMENT, { hashAlgorithm: 'sha256' });
    expect(verify(armor)).toMatchObject({ ok: true, signature: { hashAlgorithm: 'sha256' } });
  });

  it('accepts the armor as bytes, with CRLF line ends (as OpenSSH 9.5 and later do), and with whitespace around it', () => {
    expect(verify(Buffer.from(aliceSignature)).ok).toBe(true);
    expect(verify(aliceSignature.replace(/\n/g, '\r\n')).ok).toBe(true);
    expect(verify(`\n  ${aliceSignature}\n\n`).ok).toBe(true);
  });

  it('refuses a signature in the git namespace (a signed commit) as wrong_namespace, naming the key', () => {
    const armor = keygenSign(files.dir, alice.privatePath, STATEMENT, { namespace: 'git' });
    expect(verify(armor)).toEqual({
      ok: false,
      reason: 'wrong_namespace',
      message: expect.stringMatching(/"git", not "molecule-plugin"/),
      fingerprint: aliceFingerprint(),
    });
    expect(keygenAccepts(armor)).toBe(false);
  });

  it("refuses another version's signature as bad_signature, naming the key", () => {
    const armor = keygenSign(files.dir, alice.privatePath, OTHER_VERSION);
    expect(verify(armor)).toEqual({ ok: false, reason: 'bad_signature', message: expect.stringMatching(/does not verify/), fingerprint: aliceFingerprint() });
    expect(keygenAccepts(armor)).toBe(false);
  });

  it('refuses a signature whose bytes were changed as bad_signature', () => {
    const { signature } = fieldsOf(aliceSignature);
    const flipped = Buffer.from(signature);
    flipped[flipped.length - 1] = (flipped.at(-1) ?? 0) ^ 1;
    expect(verify(rebuilt(aliceSignature, { signature: flipped }))).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it('ignores a non-empty reserved field, as ssh-keygen does', () => {
    const armor = rebuilt(aliceSignature, { reserved: Buffer.from('future tags') });
    expect(verify(armor).ok).toBe(true);
    expect(keygenAccepts(armor)).toBe(true);
  });

  it('refuses a signature by an RSA key as malformed, naming the key type and the fingerprint ssh-keygen prints', () => {
    const armor = keygenSign(files.dir, rsa.privatePath, STATEMENT);
    expect(verify(armor)).toEqual({
      ok: false,
      reason: 'malformed',
      message: expect.stringMatching(/unsupported key type "ssh-rsa": only ssh-ed25519/),
      fingerprint: keygenFingerprint(`${rsa.privatePath}.pub`),
    });
  });

  // Each damage ssh-keygen refuses too (checked beside ours), except where the test says.
  it.each<[string, () => string | Buffer, RegExp]>([
    ['cut off before its footer', () => aliceSignature.slice(0, aliceSignature.length / 2), /truncated/],
    ['missing lines of its body', () => aliceSignature.split('\n').toSpliced(2, 2).join('\n'), /damaged: .* runs past the end/],
    ['without its header', () => aliceSignature.split('\n').slice(1).join('\n'), /must start with -----BEGIN SSH SIGNATURE-----/],
    ['with a character that is not base64', () => aliceSignature.replace(/\n(.{10})./, '\n$1!'), /not valid base64/],
    ['with a header and footer but nothing between', () => '-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n', /header and the footer/],
    ['not armored at all', () => 'hello', /must start with/],
    ['with trailing bytes after the blob', () => rebuilt(aliceSignature, { trailing: Buffer.from([0, 0, 0, 0]) }), /4 trailing bytes/],
    ['of version 2', () => rebuilt(aliceSignature, { version: 2 }), /unsupported SSH signature version 2/],
    ['with another magic', () => rebuilt(aliceSignature, { magic: Buffer.from('SSHSIH') }), /no SSHSIG magic/],
    [
      'with hash algorithm md5',
      () => rebuilt(aliceSignature, { hashAlgorithm: Buffer.from('md5') }),
      /unsupported hash algorithm "md5" \(only sha512 or sha256\)/,
    ],
    [
      'with a 63-byte ed25519 signature',
      () => rebuilt(aliceSignature, { signature: Buffer.concat([string('ssh-ed25519'), string(Buffer.alloc(63))]) }),
      /64 bytes, not 63/,
    ],
    [
      'with an RSA signature from an ed25519 key',
      () => rebuilt(aliceSignature, { signature: Buffer.concat([string('rsa-sha2-512'), string(Buffer.alloc(64))]) }),
      /"rsa-sha2-512" signature/,
    ],
  ])('refuses a signature %s as malformed', (_, armor, message) => {
    const result = verify(armor());
    expect(result).toMatchObject({ ok: false, reason: 'malformed', message: expect.stringMatching(message) });
    expect(keygenAccepts(armor())).toBe(false);
  });

  it('refuses a signature of version 0 that ssh-keygen would still read (only version 1 exists)', () => {
    expect(verify(rebuilt(aliceSignature, { version: 0 }))).toMatchObject({ ok: false, reason: 'malformed', message: expect.stringMatching(/version 0/) });
  });

  it('refuses an empty namespace as malformed', () => {
    expect(verify(rebuilt(aliceSignature, { namespace: Buffer.alloc(0) }))).toMatchObject({ ok: false, reason: 'malformed', fingerprint: aliceFingerprint() });
  });

  it('refuses a 1 MB plugin.sig as malformed before decoding it', () => {
    const huge = aliceSignature.replace('\n', `\n${'A'.repeat(1 << 20)}\n`);
    expect(verify(huge)).toEqual({
      ok: false,
      reason: 'malformed',
      message: `the signature is ${huge.length} bytes; an SSH signature is at most ${MAX_SIGNATURE_BYTES}`,
    });
  });

  it('reads the fields of a signature without verifying it', () => {
    expect(parseSignature(aliceSignature)).toMatchObject({ ok: true, signature: { namespace: NAMESPACE, fingerprint: aliceFingerprint() } });
  });
});

describe('signing as ssh-keygen -Y sign does', () => {
  it.each(['sha512', 'sha256'] as const)('makes a %s signature that ssh-keygen -Y verify accepts', (hashAlgorithm) => {
    const armor = signMessage({ privateKey: alice.privateKey, message: STATEMENT, namespace: NAMESPACE, hashAlgorithm });
    expect(keygenVerify(files.dir, { allowedSigners: allowedSigners(), principal: 'alice@example.com', signature: armor, message: STATEMENT })).toMatchObject({
      status: 0,
      stdout: expect.stringContaining('Good "molecule-plugin" signature for alice@example.com'),
    });
    expect(verify(armor)).toMatchObject({ ok: true, signature: { hashAlgorithm } });
  });

  it.each(['sha512', 'sha256'] as const)('writes the very bytes ssh-keygen writes (%s; ed25519 is deterministic): 70-column lines', (hashAlgorithm) => {
    const ours = signMessage({ privateKey: alice.privateKey, message: STATEMENT, namespace: NAMESPACE, hashAlgorithm });
    expect(ours).toBe(keygenSign(files.dir, alice.privatePath, STATEMENT, { hashAlgorithm }));
    const body = ours.split('\n').slice(1, -2);
    expect(body.slice(0, -1).every((line) => line.length === 70)).toBe(true);
    expect(body.at(-1)?.length).toBeLessThanOrEqual(70);
  });

  it('signs bytes as well as text', () => {
    const message = Buffer.from([0, 1, 2, 255]);
    const armor = signMessage({ privateKey: alice.privateKey, message, namespace: NAMESPACE });
    expect(verify(armor, message).ok).toBe(true);
    expect(keygenAccepts(armor, message)).toBe(true);
  });

  it('refuses an encrypted private key, saying how to sign instead', () => {
    const locked = generateKey(files.dir, 'locked', { passphrase: 'correct horse' });
    expect(() => signMessage({ privateKey: locked.privateKey, message: STATEMENT, namespace: NAMESPACE })).toThrow(InvalidPrivateKey);
    expect(() => signMessage({ privateKey: locked.privateKey, message: STATEMENT, namespace: NAMESPACE })).toThrow(
      /encrypted with a passphrase.*ssh-keygen -Y sign -n molecule-plugin/,
    );
  });

  it('refuses an RSA private key', () => {
    expect(() => signMessage({ privateKey: rsa.privateKey, message: STATEMENT, namespace: NAMESPACE })).toThrow(/unsupported key type "ssh-rsa"/);
  });

  it('refuses an empty namespace', () => {
    expect(() => signMessage({ privateKey: alice.privateKey, message: STATEMENT, namespace: '' })).toThrow(/needs a namespace/);
  });
});
