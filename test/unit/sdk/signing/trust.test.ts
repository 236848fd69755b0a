import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidTrustDocument } from '../../../../packages/sdk/src/signing/errors.js';
import { fingerprint, parsePublicKey } from '../../../../packages/sdk/src/signing/keys.js';
import { generateSigningKey } from '../../../../packages/sdk/src/signing/private-key.js';
import { signMessage, verifySignature } from '../../../../packages/sdk/src/signing/sshsig.js';
import {
  checkPluginSignature,
  checkTrustDocument,
  parseIsoTime,
  signerVerdict,
  type TrustDocument,
  type TrustVerdict,
  trustDocumentProblems,
  trustVerdict,
} from '../../../../packages/sdk/src/signing/trust.js';
import { string } from '../../../../packages/sdk/src/signing/wire.js';
import { generateKey, keygenSign, scratch } from '../../../support/ssh-keygen.js';

const NAMESPACE = 'molecule-plugin';
const STATEMENT = `molecule-plugin acc-good 1.0.0 42df081ff83aaa4a0b484a21be6f1fef3132f3bd2f740992707f2329a300eab8 ${'0'.repeat(64)}`;
const OTHER_VERSION = STATEMENT.replace(' 1.0.0 ', ' 1.0.1 ');
/** The time of every check: Stage's clock, fixed. */
const NOW = new Date('2025-06-15T12:00:00Z');

type Key = ReturnType<typeof generateSigningKey>;
const keys = Object.fromEntries(
  ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank'].map((name) => [name, generateSigningKey(`${name}@laptop`)]),
) as Record<'alice' | 'bob' | 'carol' | 'dave' | 'erin' | 'frank' | 'gina' | 'hank', Key>;
const fp = (key: Key) => fingerprint(parsePublicKey(key.publicKey));
const sign = (key: Key, message = STATEMENT, namespace = NAMESPACE) => signMessage({ privateKey: key.privateKey, message, namespace });

/**
 * alice: listed; bob: not listed; carol: listed and revoked; dave: expired; erin: not yet valid;
 * frank: valid from exactly NOW; gina: valid until exactly NOW; hank: revoked, not listed.
 */
const trust = (requireSignature: boolean): TrustDocument => ({
  requireSignature,
  signers: [
    { principal: 'alice@example.com', publicKey: keys.alice.publicKey },
    { principal: 'carol@example.com', publicKey: keys.carol.publicKey },
    { principal: 'dave@example.com', publicKey: keys.dave.publicKey, validAfter: '2024-01-01T00:00:00Z', validBefore: '2025-06-01T00:00:00Z' },
    { principal: 'erin@example.com', publicKey: keys.erin.publicKey, validAfter: '2025-07-01T00:00:00+02:00' },
    { principal: 'frank@example.com', publicKey: keys.frank.publicKey, validAfter: '2025-06-15T14:00:00+02:00' },
    { principal: 'gina@example.com', publicKey: keys.gina.publicKey, validBefore: '2025-06-15T12:00:00.000Z' },
  ],
  revokedKeys: [fp(keys.carol), fp(keys.hank)],
});

const verdict = (signature: string | undefined, requireSignature: boolean, now = NOW) =>
  trustVerdict({
    signature: signature === undefined ? undefined : verifySignature({ armor: signature, message: STATEMENT, namespace: NAMESPACE }),
    statement: STATEMENT,
    trust: trust(requireSignature),
    now,
  });

const trusted = (name: Key, principal: string): TrustVerdict => ({ verdict: 'trusted', signer: { principal, fingerprint: fp(name) } });
const untrusted = (key: Key, reason: 'unknown_key' | 'key_expired' | 'key_not_yet_valid'): TrustVerdict => ({
  verdict: 'untrusted',
  reason,
  fingerprint: fp(key),
  warning: `untrusted_signer: ${fp(key)}`,
});
const invalid = (reason: string, key?: Key): TrustVerdict =>
  ({
    verdict: 'refused',
    error: { code: 'signature_invalid', reason, ...(key ? { fingerprint: fp(key) } : {}), statement: STATEMENT, message: expect.any(String) },
  }) as TrustVerdict;
const required: TrustVerdict = { verdict: 'refused', error: { code: 'signature_required', message: expect.stringMatching(/requires plugins to be signed/) } };

describe('the verdict on a plugin signature (SPEC §11), at a fixed time', () => {
  // [case, signature, verdict when signatures are not required, verdict when they are]
  it.each<[string, () => string | undefined, TrustVerdict, TrustVerdict]>([
    ['no signature', () => undefined, { verdict: 'unsigned' }, required],
    ['a listed key', () => sign(keys.alice), trusted(keys.alice, 'alice@example.com'), trusted(keys.alice, 'alice@example.com')],
    ['a key the org does not list', () => sign(keys.bob), untrusted(keys.bob, 'unknown_key'), invalid('unknown_key', keys.bob)],
    ['a key past its validBefore', () => sign(keys.dave), untrusted(keys.dave, 'key_expired'), invalid('key_expired', keys.dave)],
    ['a key before its validAfter', () => sign(keys.erin), untrusted(keys.erin, 'key_not_yet_valid'), invalid('key_not_yet_valid', keys.erin)],
    ['a key at the instant of its validAfter', () => sign(keys.frank), trusted(keys.frank, 'frank@example.com'), trusted(keys.frank, 'frank@example.com')],
    ['a key at the instant of its validBefore', () => sign(keys.gina), trusted(keys.gina, 'gina@example.com'), trusted(keys.gina, 'gina@example.com')],
    ['a revoked key that is also listed', () => sign(keys.carol), invalid('revoked_key', keys.carol), invalid('revoked_key', keys.carol)],
    ['a revoked key that is not listed', () => sign(keys.hank), invalid('revoked_key', keys.hank), invalid('revoked_key', keys.hank)],
    [
      "a revoked key's signature of another version",
      () => sign(keys.carol, OTHER_VERSION),
      invalid('revoked_key', keys.carol),
      invalid('revoked_key', keys.carol),
    ],
    ['a malformed signature', () => 'hello', invalid('malformed'), invalid('malformed')],
    [
      'a signature in the git namespace',
      () => sign(keys.alice, STATEMENT, 'git'),
      invalid('wrong_namespace', keys.alice),
      invalid('wrong_namespace', keys.alice),
    ],
    [
      "a listed key's signature of another version",
      () => sign(keys.alice, OTHER_VERSION),
      invalid('bad_signature', keys.alice),
      invalid('bad_signature', keys.alice),
    ],
    [
      "an unlisted key's signature of another version",
      () => sign(keys.bob, OTHER_VERSION),
      invalid('bad_signature', keys.bob),
      invalid('bad_signature', keys.bob),
    ],
  ])('%s', (_, signature, optional, mandatory) => {
    const armor = signature();
    expect(verdict(armor, false)).toEqual(optional);
    expect(verdict(armor, true)).toEqual(mandatory);
  });

  it.each<[string, Key | undefined, TrustVerdict, TrustVerdict]>([
    ['no signer', undefined, { verdict: 'unsigned' }, required],
    ['a listed key', keys.alice, trusted(keys.alice, 'alice@example.com'), trusted(keys.alice, 'alice@example.com')],
    ['a key the org no longer lists', keys.bob, untrusted(keys.bob, 'unknown_key'), invalid('unknown_key', keys.bob)],
    ['a key past its validBefore', keys.dave, untrusted(keys.dave, 'key_expired'), invalid('key_expired', keys.dave)],
    ['a key revoked since', keys.carol, invalid('revoked_key', keys.carol), invalid('revoked_key', keys.carol)],
  ])('judges a signer recorded earlier by the same policy (a rollback): %s', (_, key, optional, mandatory) => {
    const judge = (requireSignature: boolean) => signerVerdict({ fingerprint: key && fp(key), statement: STATEMENT, trust: trust(requireSignature), now: NOW });
    expect(judge(false)).toEqual(optional);
    expect(judge(true)).toEqual(mandatory);
  });

  it('says in the message when a key expired or becomes valid, and what time it is', () => {
    expect(verdict(sign(keys.dave), true)).toMatchObject({
      error: { message: `the signing key ${fp(keys.dave)} (dave@example.com) was trusted until 2025-06-01T00:00:00.000Z; it is 2025-06-15T12:00:00.000Z` },
    });
    expect(verdict(sign(keys.erin), true)).toMatchObject({ error: { message: expect.stringContaining('is trusted from 2025-06-30T22:00:00.000Z') } });
  });

  it('carries the reason a signature is malformed in the message', () => {
    expect(verdict('hello', true)).toMatchObject({
      error: { reason: 'malformed', message: expect.stringMatching(/must start with -----BEGIN SSH SIGNATURE-----/) },
    });
  });

  it('judges at the time it is given, not the clock', () => {
    expect(verdict(sign(keys.dave), true, new Date('2025-01-01T00:00:00Z'))).toEqual(trusted(keys.dave, 'dave@example.com'));
    expect(verdict(sign(keys.erin), true, new Date('2030-01-01T00:00:00Z'))).toEqual(trusted(keys.erin, 'erin@example.com'));
  });

  it('names the first entry that trusts the key now when a key is listed more than once', () => {
    const document: TrustDocument = {
      requireSignature: true,
      signers: [
        { principal: 'alice-old@example.com', publicKey: keys.alice.publicKey, validBefore: '2025-01-01T00:00:00Z' },
        { principal: 'alice@example.com', publicKey: keys.alice.publicKey, validAfter: '2025-01-01T00:00:00Z' },
      ],
    };
    const signature = verifySignature({ armor: sign(keys.alice), message: STATEMENT, namespace: NAMESPACE });
    expect(trustVerdict({ signature, statement: STATEMENT, trust: document, now: NOW })).toEqual(trusted(keys.alice, 'alice@example.com'));
  });

  it('fails closed on a stored document it cannot read, instead of reading it as wider trust', () => {
    const signature = verifySignature({ armor: sign(keys.alice), message: STATEMENT, namespace: NAMESPACE });
    const document: TrustDocument = {
      requireSignature: true,
      signers: [{ principal: 'alice@example.com', publicKey: keys.alice.publicKey, validBefore: 'next tuesday' }],
    };
    expect(() => trustVerdict({ signature, statement: STATEMENT, trust: document, now: NOW })).toThrow(InvalidTrustDocument);
  });
});

describe('checking a plugin signature made by ssh-keygen end to end', () => {
  const files = scratch();
  afterAll(() => files.remove());

  it('trusts a plugin.sig that ssh-keygen -Y sign -n molecule-plugin made over the statement', () => {
    const key = generateKey(files.dir, 'dev');
    const armor = keygenSign(files.dir, key.privatePath, STATEMENT);
    const document: TrustDocument = { requireSignature: true, signers: [{ principal: 'dev@example.com', publicKey: key.publicKey }] };
    expect(checkPluginSignature({ signature: Buffer.from(armor), statement: STATEMENT, trust: document, now: NOW })).toEqual({
      verdict: 'trusted',
      signer: { principal: 'dev@example.com', fingerprint: fingerprint(parsePublicKey(readFileSync(`${key.privatePath}.pub`, 'utf8'))) },
    });
    expect(checkPluginSignature({ signature: undefined, statement: STATEMENT, trust: document, now: NOW })).toMatchObject({
      error: { code: 'signature_required' },
    });
  });
});

describe('a signature file past the size limit', () => {
  it('is malformed for its whole size, of which the caller read only the first bytes', () => {
    const first = sign(keys.alice).slice(0, 100);
    expect(checkPluginSignature({ signature: first, size: 1_048_576, statement: STATEMENT, trust: trust(false), now: NOW })).toEqual(invalid('malformed'));
    expect(checkPluginSignature({ signature: first, size: 1_048_576, statement: STATEMENT, trust: trust(false), now: NOW })).toMatchObject({
      error: { message: 'the signature is 1048576 bytes; an SSH signature is at most 8192' },
    });
  });
});

describe('a trust document (what PUT .../plugins/trust stores)', () => {
  const rsaKey = `ssh-rsa ${Buffer.concat([string('ssh-rsa'), string(Buffer.from([1, 0, 1])), string(Buffer.alloc(257, 7))]).toString('base64')} old@laptop`;
  const signer = { principal: 'alice@example.com', publicKey: keys.alice.publicKey };

  it('is accepted when every key is ed25519, principals are unique and windows are in order', () => {
    expect(trustDocumentProblems(trust(true))).toEqual([]);
  });

  it.each<[string, Partial<TrustDocument>, RegExp]>([
    ['an RSA key', { signers: [{ ...signer, publicKey: rsaKey }] }, /signers\[0\]\.publicKey: unsupported key type "ssh-rsa": only ssh-ed25519/],
    [
      'a principal listed twice',
      { signers: [signer, { ...signer, publicKey: keys.bob.publicKey }] },
      /signers\[1\]\.principal "alice@example.com" is listed twice/,
    ],
    ['a validBefore earlier than validAfter', { signers: [{ ...signer, validAfter: '2025-02-01', validBefore: '2025-01-01' }] }, /validBefore must be later/],
    [
      'a window that ends as it starts',
      { signers: [{ ...signer, validAfter: '2025-01-01', validBefore: '2025-01-01T00:00:00Z' }] },
      /validBefore must be later/,
    ],
    ['a principal pattern', { signers: [{ ...signer, principal: '*@example.com' }] }, /signers\[0\]\.principal "\*@example.com" must be non-empty/],
    ['a list of principals', { signers: [{ ...signer, principal: 'a@example.com,b@example.com' }] }, /must be non-empty, without spaces, commas/],
    ['an empty principal', { signers: [{ ...signer, principal: '' }] }, /principal "" must be non-empty/],
    ['a date that does not exist', { signers: [{ ...signer, validAfter: '2025-02-30T00:00:00Z' }] }, /validAfter "2025-02-30T00:00:00Z" is not an ISO-8601/],
    [
      'a local time without an offset',
      { signers: [{ ...signer, validBefore: '2025-06-15T12:00:00' }] },
      /validBefore "2025-06-15T12:00:00" is not an ISO-8601/,
    ],
    ['a revoked key that is not a fingerprint', { revokedKeys: ['MD5:00:11'] }, /revokedKeys\[0\] "MD5:00:11" is not a fingerprint/],
  ])('is refused with %s', (_, change, message) => {
    const document = { ...trust(true), ...change };
    expect(trustDocumentProblems(document).join('\n')).toMatch(message);
    expect(() => checkTrustDocument(document)).toThrow(InvalidTrustDocument);
  });

  it('reports every problem at once', () => {
    const document: TrustDocument = { requireSignature: true, signers: [{ principal: '', publicKey: rsaKey, validAfter: 'soon' }], revokedKeys: ['x'] };
    expect(trustDocumentProblems(document)).toHaveLength(4);
  });
});

describe('ISO-8601 times', () => {
  it.each([
    ['2025-06-15', '2025-06-15T00:00:00.000Z'],
    ['2025-06-15T12:00Z', '2025-06-15T12:00:00.000Z'],
    ['2025-06-15T12:00:00.250Z', '2025-06-15T12:00:00.250Z'],
    ['2025-06-15T12:00:00-05:30', '2025-06-15T17:30:00.000Z'],
  ])('reads %s', (text, iso) => {
    expect(parseIsoTime(text)?.toISOString()).toBe(iso);
  });

  it.each(['2025-6-15', '2025-06-15T12:00:00', '2025-06-15 12:00:00Z', '2025-13-01', '2025-06-15T24:00:00Z', 'June 15, 2025', ''])('refuses %j', (text) => {
    expect(parseIsoTime(text)).toBeUndefined();
  });
});
