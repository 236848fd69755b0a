import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shellQuote } from '../../../lambdas/delivery/shell.js';

/** What bash makes of a quoted word: it must be the original string, byte for byte. */
function throughBash(word: string): string {
  return execFileSync('bash', ['-c', `printf '%s' ${word}`], { encoding: 'utf8' });
}

describe('shellQuote', () => {
  it.each([
    ['plain', 'acme.tools'],
    ['empty', ''],
    ['metacharacters', `'; rm -rf / $(x) \`y\` "z"`],
    ['newlines', 'line one\nline two\n'],
    ['backslashes and globs', '\\n * ? [a] ~ {a,b} !! # & | < > ;'],
    ['only quotes', "'''"],
    ['unicode', 'plugin — ünïcode ✓'],
  ])('makes %s a single literal shell word', (_label, value) => {
    expect(throughBash(shellQuote(value))).toBe(value);
  });

  it('wraps the value in single quotes and escapes embedded ones', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });

  it('refuses a NUL byte, which no shell word can hold', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});
