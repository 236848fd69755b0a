import { describe, expect, it } from 'vitest';
import { MAX_MANIFEST_BYTES, parseManifest } from '../../../lambdas/plugins/manifest.js';
import { ManifestInvalid } from '../../../lambdas/shared/errors.js';

const yaml = (text: string) => parseManifest(Buffer.from(text));

/** Each level is ten references to the one before: 10^8 nodes from a few hundred bytes. */
function aliasBomb(): string {
  const levels = 'abcdefghi'.split('');
  return levels
    .map((level, i) => `${level}: &${level} [${Array(10).fill(i === 0 ? 'lol' : `*${levels[i - 1]}`).join(', ')}]`)
    .join('\n');
}

function rejection(text: string | Buffer): string {
  try {
    parseManifest(Buffer.isBuffer(text) ? text : Buffer.from(text));
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestInvalid);
    expect(err).toMatchObject({ code: 'manifest_invalid', status: 422 });
    return (err as Error).message;
  }
  throw new Error('the manifest was accepted');
}

describe('plugin.yaml', () => {
  it('reads every documented field', () => {
    const manifest = yaml(`
name: acc-good
version: 1.0.0
description: A plugin
author: Molecule
tags: [demo, test]
skills:
  - hello
  - say.bye_2
runtimes: [claude-code, hermes]
rules: [style.md]
sha256: ${'a'.repeat(64)}
hooks: {pre: x}   # other keys belong to the runtime
`);
    expect(manifest).toEqual({
      name: 'acc-good',
      version: '1.0.0',
      description: 'A plugin',
      author: 'Molecule',
      tags: ['demo', 'test'],
      skills: ['hello', 'say.bye_2'],
      runtimes: ['claude-code', 'hermes'],
      rules: ['style.md'],
      sha256: 'a'.repeat(64),
    });
  });

  it('gives empty lists and no name for an empty or missing manifest', () => {
    const empty = { tags: [], skills: [], runtimes: [], rules: [] };
    expect(parseManifest(new Uint8Array())).toEqual(empty);
    expect(yaml('# only a comment\n')).toEqual(empty);
    expect(yaml('name:\nskills: ~\nauthor: null\n')).toEqual(empty);
  });

  it('keeps numbers as written', () => {
    expect(yaml('version: 1.0\n').version).toBe('1.0');
    expect(yaml(`sha256: ${'0'.repeat(64)}\n`).sha256).toBe('0'.repeat(64));
    expect(yaml('tags: [2024, 1e3]\n').tags).toEqual(['2024', '1e3']);
  });

  it.each([
    ['invalid YAML', 'name: "unterminated\n', /not valid YAML/],
    ['a flow list left open', 'name: [unclosed\n', /not valid YAML/],
    ['two documents', 'name: a\n---\nname: b\n', /not valid YAML/],
    ['duplicate keys', 'name: a\nname: b\n', /not valid YAML.*unique/],
    ['a list at the top', '- a\n- b\n', /must be a mapping/],
    ['a scalar at the top', 'just text\n', /must be a mapping/],
    ['skills as a string', 'skills: hello\n', /skills/],
    ['a mapping as the author', 'author: {name: x}\n', /author/],
    ['a boolean as the version', 'version: true\n', /version/],
    ['an invalid plugin name', 'name: Bad Name\n', /name: invalid name "Bad Name"/],
    ['a path as a skill name', 'skills: [ok, ../../etc]\n', /skills\.1: invalid name "\.\.\/\.\.\/etc"/],
    ['a short sha256', 'sha256: abc\n', /sha256: must be 64 lowercase hex characters/],
    ['an upper-case sha256', `sha256: ${'A'.repeat(64)}\n`, /sha256/],
    ['an alias bomb (billion laughs)', aliasBomb(), /not valid YAML/],
  ])('rejects %s', (_, text, message) => {
    expect(rejection(text)).toMatch(message);
  });

  it('rejects bytes that are not UTF-8', () => {
    expect(rejection(Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0xff, 0xfe]))).toMatch(/not valid YAML/);
  });

  it(`rejects a manifest over ${MAX_MANIFEST_BYTES} bytes`, () => {
    expect(rejection(`# ${'x'.repeat(MAX_MANIFEST_BYTES)}\n`)).toMatch(/larger than 262144 bytes/);
  });

  it('rejects text the database and listings cannot hold: control characters and oversized fields', () => {
    expect(rejection('version: "1.0\\0"\n')).toMatch(/version: must not contain control characters/);
    expect(rejection('version: "1.0\\n2"\n')).toMatch(/version: must be one line/);
    expect(rejection(`author: "${'a'.repeat(257)}"\n`)).toMatch(/author:/);
    expect(rejection(`tags: [${Array(1001).fill('t').join(', ')}]\n`)).toMatch(/tags:/);
    expect(yaml('description: "two\\nlines\\tand a tab"\n').description).toBe('two\nlines\tand a tab');
  });
});
