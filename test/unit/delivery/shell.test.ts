import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { quote } from '../../../lambdas/delivery/shell.js';

/** What bash makes of a quoted word: it must be the original string, byte for byte. */
function throughBash(word: string): string {
  return execFileSync('bash', ['-c', `printf '%s' ${word}`], { encoding: 'utf8' });
}

describe('quote', () => {
  it.each([
    ['plain', 'acme.tools'],
    ['empty', ''],
    ['metacharacters', `'; rm -rf / $(x) \`y\` "z"`],
    ['newlines', 'line one\nline two\n'],
    ['backslashes and globs', '\\n * ? [a] ~ {a,b} !! # & | < > ;'],
    ['only quotes', "'''"],
    ['unicode', 'plugin — ünïcode ✓'],
  ])('makes %s a single literal shell word', (_label, value) => {
    expect(throughBash(quote(value))).toBe(value);
  });

  it('wraps the value in single quotes and escapes embedded ones', () => {
    expect(quote("it's")).toBe(`'it'\\''s'`);
  });

  it('refuses a NUL byte, which no shell word can hold', () => {
    expect(() => quote('a\0b')).toThrow(/NUL/);
  });
});
