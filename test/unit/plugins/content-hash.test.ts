import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { comparePaths, contentHash, pythonJsonDumps } from '@molecule/plugins-sdk/contract/content-hash';
import { ACC_GOOD_FILES, ACC_GOOD_HASH } from '../../support/archives.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const digests = (files: Record<string, string>) => Object.entries(files).map(([path, content]) => [path, sha256(content)] as const);

const python = spawnSync('python3', ['--version']).status === 0;

/** Runs Python's own json.dumps / sorted on the same input. */
function runPython(script: string, input: unknown): string {
  const result = spawnSync('python3', ['-c', script], { input: JSON.stringify(input), encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return result.stdout;
}

// Names a hostile or merely international plugin could carry: quotes, backslashes, controls,
// DEL, Latin-1, BMP above the surrogates, astral (surrogate pairs in UTF-16), RTL, combining marks.
const AWKWARD = [
  'plain.md',
  'with space.md',
  'quote".md',
  'back\\slash.md',
  'tab\there.md',
  'nl\nhere.md',
  'cr\rbs\bff\f.md',
  'ctrl\u0001\u001f.md',
  'del\u007f.md',
  'café.md',
  'ß/straße.md',
  'emoji/😀.md',
  '𝄞music.md',
  'ｆｕｌｌ.md',
  '\ue000private.md',
  '\uffefbom.md',
  'עברית.md',
  'e\u0301.md',
  '/slash.md',
  'a/b/c.md',
  '$(reboot).md',
];

describe('content hash (SPEC §3)', () => {
  it('matches the SPEC example, whatever plugin.yaml says', () => {
    expect(contentHash(digests(ACC_GOOD_FILES))).toBe(ACC_GOOD_HASH);
    expect(contentHash(digests({ ...ACC_GOOD_FILES, 'plugin.yaml': 'anything else' }))).toBe(ACC_GOOD_HASH);
  });

  it('leaves out only the root plugin.yaml', () => {
    const { 'plugin.yaml': _, ...withoutManifest } = ACC_GOOD_FILES;
    expect(contentHash(digests(withoutManifest))).toBe(ACC_GOOD_HASH);
    expect(contentHash(digests({ ...withoutManifest, 'skills/plugin.yaml': 'x' }))).not.toBe(ACC_GOOD_HASH);
  });

  it('leaves out the root plugin.sig too (SPEC §11), so a signature is not part of what it signs', () => {
    const signature = '-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n';
    expect(contentHash(digests({ ...ACC_GOOD_FILES, 'plugin.sig': signature }))).toBe(ACC_GOOD_HASH);
    expect(contentHash(digests({ ...ACC_GOOD_FILES, 'rules/plugin.sig': signature }))).not.toBe(ACC_GOOD_HASH);
  });

  it('does not depend on the order files are given in', () => {
    expect(contentHash(digests(ACC_GOOD_FILES).reverse())).toBe(ACC_GOOD_HASH);
  });

  it('serializes like json.dumps: ", " separators, ASCII only', () => {
    expect(pythonJsonDumps([])).toBe('[]');
    expect(
      pythonJsonDumps([
        ['a.md', 'h1'],
        ['b/c.md', 'h2'],
      ]),
    ).toBe('[["a.md", "h1"], ["b/c.md", "h2"]]');
    expect(pythonJsonDumps([['é😀\n"\\\u007f\u0001', 'x']])).toBe('[["\\u00e9\\ud83d\\ude00\\n\\"\\\\\\u007f\\u0001", "x"]]');
  });

  it('sorts by code point like Python, not by UTF-16 unit', () => {
    // U+FF41 sorts before U+1D11E by code point; by UTF-16 units the surrogate 0xD834 would come first.
    expect(['𝄞', 'ａ'].sort(comparePaths)).toEqual(['ａ', '𝄞']);
    expect(['b', 'a/b', 'a-b', 'a'].sort(comparePaths)).toEqual(['a', 'a-b', 'a/b', 'b']);
  });

  it('orders any two paths as their UTF-8 bytes do, ASCII or not', () => {
    // Units from each range where UTF-16 and code point order could part: ASCII, Latin, CJK, U+E000+, astral.
    const alphabet = ['a', 'b', '/', '-', '.', 'é', '中', '\ue000', 'ａ', '\uffff', '𝄞', '😀'];
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const word = () => Array.from({ length: 1 + Math.floor(next() * 4) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
    for (let i = 0; i < 2000; i++) {
      const [a, b] = [word(), word()];
      expect(Math.sign(comparePaths(a, b)), `${a} vs ${b}`).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
    }
  });

  describe.skipIf(!python)('against python3 itself', () => {
    it('serializes awkward names byte for byte as json.dumps does', () => {
      const rows = AWKWARD.map((name, i) => [name, String(i)]);
      expect(pythonJsonDumps(rows)).toBe(runPython('import json,sys; sys.stdout.write(json.dumps(json.load(sys.stdin)))', rows));
    });

    it('computes the same hash as verify_plugin_sha256 for awkward names', () => {
      const files = digests(Object.fromEntries(AWKWARD.map((name, i) => [name, `content ${i}\n`])));
      const script = [
        'import hashlib, json, sys',
        'pairs = [tuple(p) for p in json.load(sys.stdin)]',
        'pairs = sorted(p for p in pairs if p[0] != "plugin.yaml")',
        'sys.stdout.write(hashlib.sha256(json.dumps(pairs, sort_keys=True).encode()).hexdigest())',
      ].join('\n');
      expect(contentHash(files)).toBe(runPython(script, files));
    });
  });
});
