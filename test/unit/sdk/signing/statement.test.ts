import { describe, expect, it } from 'vitest';
import { InvalidStatement } from '../../../../packages/sdk/src/signing/errors.js';
import { manifestHash, NO_MANIFEST_HASH, pluginStatement } from '../../../../packages/sdk/src/signing/statement.js';

// SPEC §3's example content hash.
const CONTENT_HASH = '42df081ff83aaa4a0b484a21be6f1fef3132f3bd2f740992707f2329a300eab8';
// sha256 of the empty string, a known vector.
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('the statement a plugin signature signs (SPEC §11)', () => {
  it('is "molecule-plugin <name> <version> <content hash> <manifest hash>", single spaces, no newline', () => {
    expect(pluginStatement({ name: 'acc-good', version: '1.0.0', contentHash: CONTENT_HASH, manifestHash: EMPTY_SHA256 })).toBe(
      `molecule-plugin acc-good 1.0.0 ${CONTENT_HASH} ${EMPTY_SHA256}`,
    );
  });

  it('names version 0.0.0 when the plugin declares none', () => {
    expect(pluginStatement({ name: 'acc-good', contentHash: CONTENT_HASH, manifestHash: NO_MANIFEST_HASH })).toBe(
      `molecule-plugin acc-good 0.0.0 ${CONTENT_HASH} ${'0'.repeat(64)}`,
    );
    expect(pluginStatement({ name: 'acc-good', version: undefined, contentHash: CONTENT_HASH, manifestHash: NO_MANIFEST_HASH })).toContain(' 0.0.0 ');
    // The manifest parser takes `version: ""`, which declares none.
    expect(pluginStatement({ name: 'acc-good', version: '', contentHash: CONTENT_HASH, manifestHash: NO_MANIFEST_HASH })).toContain(' 0.0.0 ');
  });

  it('hashes the root plugin.yaml bytes as lowercase hex sha256, and a missing one as 64 zeros', () => {
    expect(manifestHash(new Uint8Array())).toBe(EMPTY_SHA256);
    expect(manifestHash(Buffer.from('name: acc-good\n'))).toMatch(/^[0-9a-f]{64}$/);
    expect(manifestHash(undefined)).toBe('0'.repeat(64));
  });

  it.each([
    ['a name with a space', { name: 'acc good' }, /plugin name "acc good" must match/],
    ['an uppercase name', { name: 'Acc' }, /plugin name "Acc"/],
    ['a version on two lines', { version: '1.0\n' }, /version "1.0\\n"/],
    ['a 129-character version', { version: '1'.repeat(129) }, /must be 1 to 128 characters/],
    ['an uppercase content hash', { contentHash: CONTENT_HASH.toUpperCase() }, /content hash .* must be 64 lowercase hex digits/],
    ['a short manifest hash', { manifestHash: 'abc' }, /manifest hash "abc" must be 64 lowercase hex digits/],
  ])('refuses %s', (_, change, message) => {
    const parts = { name: 'acc-good', version: '1.0.0', contentHash: CONTENT_HASH, manifestHash: NO_MANIFEST_HASH, ...change };
    expect(() => pluginStatement(parts)).toThrow(InvalidStatement);
    expect(() => pluginStatement(parts)).toThrow(message);
  });

  it('lists every problem at once', () => {
    expect(() => pluginStatement({ name: '', version: '1\n', contentHash: '', manifestHash: '' })).toThrow(
      /plugin name.*; version.*; content hash.*; manifest hash/,
    );
  });
});
