import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowedSignersFrom,
  formatAllowedSigners,
  matchesPatternList,
  parseAllowedSigners,
  trustedSignersFrom,
} from '../../../../packages/sdk/src/signing/allowed-signers.js';
import { InvalidAllowedSigners } from '../../../../packages/sdk/src/signing/errors.js';
import { formatPublicKey } from '../../../../packages/sdk/src/signing/keys.js';
import { signMessage } from '../../../../packages/sdk/src/signing/sshsig.js';
import { generateKey, type KeyFiles, keygenSign, keygenVerify, scratch } from '../../../support/ssh-keygen.js';

const STATEMENT = `molecule-plugin acc-good 1.0.0 42df081ff83aaa4a0b484a21be6f1fef3132f3bd2f740992707f2329a300eab8 ${'0'.repeat(64)}`;

const files = scratch();
let alice: KeyFiles;
let bob: KeyFiles;
let carol: KeyFiles;
let rsa: KeyFiles;

beforeAll(() => {
  alice = generateKey(files.dir, 'alice', { comment: 'alice@laptop' });
  bob = generateKey(files.dir, 'bob');
  carol = generateKey(files.dir, 'carol');
  rsa = generateKey(files.dir, 'rsa', { type: 'rsa' });
});
afterAll(() => files.remove());

/** A file as someone would write it for ssh-keygen (and git's gpg.ssh.allowedSignersFile). */
const forSshKeygen = () =>
  [
    '# Signers of Molecule plugins',
    `alice@example.com,alice@corp.example ${alice.publicKey}`,
    '',
    '   # an indented comment',
    `bob@example.com namespaces="git,molecule-plugin",VALID-AFTER="20240101",valid-before="20250101120000Z" ${bob.publicKey}`,
    `carol@example.com namespaces="git" ${carol.publicKey}`,
    '',
  ].join('\n');

/** ssh-keygen's verdict on a signature by `key` for `principal`, against `allowedSigners`. */
function keygenAccepts(allowedSigners: string, key: KeyFiles, principal: string, options: { namespace?: string; verifyTime?: string } = {}): boolean {
  const signature = keygenSign(files.dir, key.privatePath, STATEMENT, { namespace: options.namespace ?? 'molecule-plugin' });
  return keygenVerify(files.dir, { allowedSigners, principal, signature, message: STATEMENT, ...options }).status === 0;
}

describe('reading an allowed_signers file written for ssh-keygen', () => {
  it('is a file ssh-keygen itself accepts (the fixture is sound)', () => {
    expect(keygenAccepts(forSshKeygen(), alice, 'alice@corp.example')).toBe(true);
    expect(keygenAccepts(forSshKeygen(), bob, 'bob@example.com', { verifyTime: '20240601' })).toBe(true);
    expect(keygenAccepts(forSshKeygen(), bob, 'bob@example.com', { verifyTime: '20260101' })).toBe(false);
    expect(keygenAccepts(forSshKeygen(), carol, 'carol@example.com')).toBe(false);
  });

  it('reads principals, options in any case, times and keys, skipping comments and blank lines', () => {
    const [first, second, third, ...rest] = parseAllowedSigners(forSshKeygen());
    expect(rest).toEqual([]);
    expect(first?.principals).toEqual(['alice@example.com', 'alice@corp.example']);
    expect(first && formatPublicKey(first.publicKey)).toBe(alice.publicKey);
    expect(first?.namespaces).toBeUndefined();
    expect(second?.namespaces).toEqual(['git', 'molecule-plugin']);
    // Without Z, ssh-keygen reads a time in this machine's time zone; so does this.
    expect(second?.validAfter).toEqual(new Date(2024, 0, 1));
    expect(second?.validBefore).toEqual(new Date(Date.UTC(2025, 0, 1, 12)));
    expect(third?.principals).toEqual(['carol@example.com']);
  });

  it('gives the trust signers for the molecule-plugin namespace: one per principal, none for a git-only key', () => {
    expect(trustedSignersFrom(parseAllowedSigners(forSshKeygen()))).toEqual([
      { principal: 'alice@example.com', publicKey: alice.publicKey },
      { principal: 'alice@corp.example', publicKey: alice.publicKey },
      { principal: 'bob@example.com', publicKey: bob.publicKey, validAfter: new Date(2024, 0, 1).toISOString(), validBefore: '2025-01-01T12:00:00.000Z' },
    ]);
  });

  it.each([
    ['YYYYMMDD', '20250102', new Date(2025, 0, 2)],
    ['YYYYMMDDHHMM', '202501021304', new Date(2025, 0, 2, 13, 4)],
    ['YYYYMMDDHHMMSS', '20250102130405', new Date(2025, 0, 2, 13, 4, 5)],
    ['YYYYMMDDZ', '20250102Z', new Date(Date.UTC(2025, 0, 2))],
    ['YYYYMMDDHHMMZ', '202501021304z', new Date(Date.UTC(2025, 0, 2, 13, 4))],
    ['YYYYMMDDHHMMSSUTC', '20250102130405UTC', new Date(Date.UTC(2025, 0, 2, 13, 4, 5))],
  ])('reads times in the form %s', (_, stamp, date) => {
    expect(parseAllowedSigners(`a@example.com valid-after="${stamp}" ${alice.publicKey}`)[0]?.validAfter).toEqual(date);
  });
});

describe('refusing what would be read differently, naming the line', () => {
  const line = (text: () => string) => () => `# header\n\n${text()}\n`;
  // [case, line 3 of the file, message, whether ssh-keygen refuses that line too]
  it.each<[string, () => string, RegExp, boolean]>([
    ['cert-authority', () => `alice@example.com cert-authority ${alice.publicKey}`, /cert-authority lines are not supported/, false],
    ['a principal pattern', () => `*@example.com ${alice.publicKey}`, /principal "\*@example.com" is not supported: principals match exactly/, false],
    ['a negated principal', () => `!bob@example.com,alice@example.com ${alice.publicKey}`, /principal "!bob@example.com"/, false],
    ['an unquoted valid-after', () => `alice@example.com valid-after=20240101 ${alice.publicKey}`, /valid-after needs its value in double quotes/, true],
    ['an unknown option', () => `alice@example.com no-touch-required ${alice.publicKey}`, /unknown option "no-touch-required"/, true],
    ['an option given twice', () => `alice@example.com namespaces="a",namespaces="b" ${alice.publicKey}`, /namespaces is given twice/, true],
    [
      'a window that ends before it starts',
      () => `alice@example.com valid-after="20250101",valid-before="20240101" ${alice.publicKey}`,
      /not later than valid-after/,
      true,
    ],
    ['a missing closing quote', () => `alice@example.com namespaces="molecule-plugin ${alice.publicKey}`, /missing its closing quote/, true],
    ['options that end with a comma', () => `alice@example.com namespaces="molecule-plugin", ${alice.publicKey}`, /end with a comma/, true],
    [
      'a date that does not exist',
      () => `alice@example.com valid-after="20250230" ${alice.publicKey}`,
      /"20250230" is not a time as ssh-keygen writes it/,
      false,
    ],
    ['a time in another form', () => `alice@example.com valid-after="2025-01-01" ${alice.publicKey}`, /YYYYMMDD\[HHMM\[SS\]\]\[Z\]/, true],
    ['a line without a key', () => 'alice@example.com', /expected "principals \[options\] key"/, true],
    ['options without a key', () => 'alice@example.com namespaces="molecule-plugin"', /missing key after the options/, true],
    ['an RSA key', () => `alice@example.com ${rsa.publicKey}`, /unsupported key type "ssh-rsa": only ssh-ed25519/, false],
  ])('%s', (_, text, message, keygenRefuses) => {
    const file = line(text)();
    expect(() => parseAllowedSigners(file)).toThrow(InvalidAllowedSigners);
    expect(() => parseAllowedSigners(file)).toThrow(new RegExp(`^allowed_signers line 3: .*${message.source}`));
    if (keygenRefuses) expect(keygenAccepts(file, alice, 'alice@example.com')).toBe(false);
  });
});

describe('writing an allowed_signers file', () => {
  const trust = () => [
    { principal: 'alice@example.com', publicKey: alice.publicKey },
    { principal: 'bob@example.com', publicKey: bob.publicKey, validAfter: '2025-01-01T00:00:00.500Z', validBefore: '2025-12-31T23:59:59.900+00:00' },
  ];

  it('writes one line per signer, limited to molecule-plugin, times in UTC rounded inward to the second', () => {
    expect(formatAllowedSigners(allowedSignersFrom(trust()))).toBe(
      [
        `alice@example.com namespaces="molecule-plugin" ${alice.publicKey}`,
        `bob@example.com namespaces="molecule-plugin",valid-after="20250101000001Z",valid-before="20251231235959Z" ${bob.publicKey}`,
        '',
      ].join('\n'),
    );
  });

  it('writes a file ssh-keygen -Y verify accepts, within each window and namespace only', () => {
    const file = formatAllowedSigners(allowedSignersFrom(trust()));
    expect(keygenAccepts(file, alice, 'alice@example.com')).toBe(true);
    expect(keygenAccepts(file, bob, 'bob@example.com', { verifyTime: '20250601' })).toBe(true);
    expect(keygenAccepts(file, bob, 'bob@example.com', { verifyTime: '20260101Z' })).toBe(false);
    expect(keygenAccepts(file, bob, 'bob@example.com', { verifyTime: '20241231' })).toBe(false);
    expect(keygenAccepts(file, alice, 'alice@example.com', { namespace: 'git' })).toBe(false);
    expect(keygenAccepts(file, alice, 'bob@example.com')).toBe(false);
  });

  it('writes a file ssh-keygen verifies our own signatures against', () => {
    const file = formatAllowedSigners(allowedSignersFrom(trust()));
    const signature = signMessage({ privateKey: alice.privateKey, message: STATEMENT, namespace: 'molecule-plugin' });
    expect(keygenVerify(files.dir, { allowedSigners: file, principal: 'alice@example.com', signature, message: STATEMENT }).status).toBe(0);
  });

  it('reads back what it writes', () => {
    const signers = allowedSignersFrom([
      { principal: 'bob@example.com', publicKey: bob.publicKey, validAfter: '2025-01-01T00:00:00Z', validBefore: '2026-01-01T00:00:00Z' },
    ]);
    expect(parseAllowedSigners(formatAllowedSigners(signers))).toEqual(signers);
    expect(trustedSignersFrom(parseAllowedSigners(formatAllowedSigners(signers)))).toEqual([
      { principal: 'bob@example.com', publicKey: bob.publicKey, validAfter: '2025-01-01T00:00:00.000Z', validBefore: '2026-01-01T00:00:00.000Z' },
    ]);
  });

  it('refuses a principal it cannot write as an exact name', () => {
    expect(() => formatAllowedSigners(allowedSignersFrom([{ principal: 'a b', publicKey: alice.publicKey }]))).toThrow(/cannot write principal "a b"/);
  });
});

describe("OpenSSH's pattern lists (namespaces=)", () => {
  it.each<[string[], boolean]>([
    [['molecule-plugin'], true],
    [['git'], false],
    [['git', 'molecule-plugin'], true],
    [['*'], true],
    [['molecule-*'], true],
    [['mol?cule-plugin'], true],
    [['molecule.plugin'], false],
    [['*', '!molecule-plugin'], false],
    [['!git'], false],
  ])('%j allows molecule-plugin: %s', (patterns, allowed) => {
    expect(matchesPatternList('molecule-plugin', patterns)).toBe(allowed);
  });
});
