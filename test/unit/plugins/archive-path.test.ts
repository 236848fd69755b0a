import { EntryPathError, entrySegments } from '@molecule/plugins-sdk/contract/archive-path';
import { describe, expect, it } from 'vitest';
import { pluginPath, topLevelOf } from '../../../lambdas/plugins/archive-path.js';
import { InvalidArchive } from '../../../lambdas/shared/errors.js';

function rejection(name: string): string {
  try {
    entrySegments(name);
  } catch (err) {
    expect(err).toBeInstanceOf(EntryPathError);
    return (err as EntryPathError).message;
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

describe('where an archive entry lands below the plugin root', () => {
  it('is its normalized path, or null for the root itself', () => {
    expect(pluginPath('./skills//a/SKILL.md', false)).toBe('skills/a/SKILL.md');
    expect(pluginPath('./', true)).toBeNull();
  });

  it('refuses what entrySegments refuses, as invalid_archive naming the entry', () => {
    expect(() => pluginPath('a/../../escape', false)).toThrow(/escapes the plugin root/);
    expect(() => pluginPath('a/../../escape', false)).toThrow(expect.objectContaining({ code: 'invalid_archive', details: { entry: 'a/../../escape' } }));
    expect(() => topLevelOf('/etc/passwd')).toThrow(InvalidArchive);
  });

  describe("with the archive's single top-level directory stripped (GitHub tarballs)", () => {
    const strip = { topLevel: 'repo-1a2b3c' };

    it('drops the directory, and names the directory itself the root', () => {
      expect(pluginPath('repo-1a2b3c/skills/a.md', false, strip)).toBe('skills/a.md');
      expect(pluginPath('repo-1a2b3c/', true, strip)).toBeNull();
    });

    it.each([
      ['a file next to the top-level directory', 'README.md', false],
      ['a second top-level directory', 'other/a.md', false],
      ['a file in place of the top-level directory', 'repo-1a2b3c', false],
    ])('refuses %s', (_, name, isDirectory) => {
      expect(() => pluginPath(name, isDirectory, strip)).toThrow(/is outside the archive's single top-level directory/);
    });

    it('refuses every entry when the first named no top-level directory', () => {
      expect(topLevelOf('./')).toBeUndefined();
      expect(() => pluginPath('./', true, { topLevel: undefined })).toThrow(/is outside the archive's single top-level directory/);
    });

    it('takes the top-level directory from the first entry', () => {
      expect(topLevelOf('./repo-1a2b3c/plugin.yaml')).toBe('repo-1a2b3c');
    });
  });
});
