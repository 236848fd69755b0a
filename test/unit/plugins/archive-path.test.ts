import { describe, expect, it } from 'vitest';
import { entrySegments } from '../../../lambdas/plugins/archive-path.js';
import type { AppError } from '../../../lambdas/shared/errors.js';

function rejection(name: string): string {
  try {
    entrySegments(name);
  } catch (err) {
    expect((err as AppError).code).toBe('invalid_archive');
    return (err as AppError).message;
  }
  throw new Error(`${JSON.stringify(name)} was accepted`);
}

describe('archive entry paths', () => {
  it.each([
    ['../escape', /escapes the plugin root/],
    ['a/../../escape', /escapes the plugin root/],
    ['a/../b', /escapes the plugin root/],
    ['..', /escapes the plugin root/],
    ['/etc/passwd', /absolute path/],
    ['//etc/passwd', /absolute path/],
    ['a\\..\\..\\b', /backslash/],
    ['a\u0000b', /control character/],
    ['line\nbreak.md', /control character/],
    ['esc\u001b[31m.md', /control character/],
    ['del\u007f.md', /control character/],
    ['bad\ufffdutf8.md', /not valid UTF-8/],
    ['', /empty name/],
    [`${'x'.repeat(256)}.md`, /longer than 255 bytes/],
    [`${'d/'.repeat(2100)}f`, /longer than 4096 bytes/],
  ])('rejects %j', (name, message) => {
    expect(rejection(name)).toMatch(message);
  });

  it('quotes the offending name safely in the message', () => {
    expect(rejection('../x\n')).toContain('"../x\\n"');
  });

  it.each([
    ['a/b.md', ['a', 'b.md']],
    ['./a//b/', ['a', 'b']],
    ['./', []],
    ['.hidden/..dots..', ['.hidden', '..dots..']],
    ['$(reboot) `id`; | & > <.md', ['$(reboot) `id`; | & > <.md']],
    ['ünïcödé/😀.md', ['ünïcödé', '😀.md']],
  ])('accepts %j as %j', (name, segments) => {
    expect(entrySegments(name)).toEqual(segments);
  });
});
