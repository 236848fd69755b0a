import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { AppError, ERROR_STATUS, FetchTimeout, SignatureInvalid, type ErrorCode } from '../../../lambdas/shared/errors.js';
import { MAX_SIGNATURE_BYTES } from '@molecule/plugins-sdk/signing';
import {
  ACC_GOOD_FILES,
  ACC_GOOD_HASH,
  bigArchive,
  bytesStream,
  gzipBomb,
  hostile,
  listTarGz,
  manyFilesArchive,
  pluginEntries,
  rawTar,
  tarGz,
} from '../../support/archives.js';
import { supportsRuntime } from '@molecule/plugins-sdk/contract/runtimes';
import { MiB, SPEC_LIMITS, stage, useStageDir } from '../../support/stage-helpers.js';

const dir = useStageDir();
/** A SKILL.md as agentskills.io wants it, for tests about something else. */
const HELLO_SKILL = { 'skills/hello/SKILL.md': '---\nname: hello\ndescription: Say hello.\n---\n# hello\n' };
const small = { maxDirBytes: 64 * 1024, maxFiles: 50, maxArchiveBytes: 64 * 1024 };

async function expectRejected(outcome: Awaited<ReturnType<typeof stage>>, code: ErrorCode): Promise<AppError> {
  const { error } = outcome;
  expect(error, 'staging should have failed').toBeInstanceOf(AppError);
  const appError = error as AppError;
  expect({ code: appError.code, status: appError.status }).toEqual({ code, status: ERROR_STATUS[code] });
  expect(outcome.sink.calls, 'nothing may reach the sink after a rejection').toBe(0);
  expect(await dir.leftovers(), 'the temp dir must be gone').toEqual([]);
  return appError;
}

describe('stageArchive: hostile archives', () => {
  it.each([
    ['an entry that escapes the plugin root with ../', hostile.dotDotEscape],
    ['an entry whose .. segments climb out of a subdirectory', hostile.nestedDotDot],
    ['an entry with an absolute path', hostile.absolutePath],
    ['an entry with backslashes in its path', hostile.backslash],
  ])('rejects %s', async (_, archive) => {
    const error = await expectRejected(await stage(await archive(), { tmpDir: dir.path }), 'invalid_archive');
    expect(error.message).toMatch(/archive entry/);
  });

  it.each([
    ['a character device', hostile.charDevice, /character-device/],
    ['a block device', hostile.blockDevice, /block-device/],
    ['a fifo', hostile.fifo, /fifo/],
    ['any other special entry (GNU sparse file)', hostile.sparseFile, /special/],
  ])('rejects %s', async (_, archive, message) => {
    const error = await expectRejected(await stage(await archive(), { tmpDir: dir.path }), 'invalid_archive');
    expect(error.message).toMatch(message);
  });

  it('drops a symlink to /etc and lists it as a warning', async () => {
    const { result, sink } = await stage(await hostile.symlinkToEtc(), { tmpDir: dir.path });
    expect(result?.warnings).toEqual(['dropped symlink "passwd" -> "/etc/passwd"']);
    const names = (await listTarGz(sink.bytes)).map((e) => e.name);
    expect(names).toEqual(['README.md']);
    expect(await dir.leftovers()).toEqual([]);
  });

  it('drops a hardlink and lists it as a warning', async () => {
    const { result, sink } = await stage(await hostile.hardlink(), { tmpDir: dir.path });
    expect(result?.warnings).toEqual(['dropped hardlink "shadow" -> "/etc/shadow"']);
    expect((await listTarGz(sink.bytes)).map((e) => e.name)).toEqual(['README.md']);
  });

  it('summarizes a flood of links instead of listing every one', async () => {
    const links = Array.from({ length: 150 }, (_, i) => ({ name: `l${i}`, type: 'symlink' as const, linkname: '/' }));
    const { result } = await stage(await tarGz([{ name: 'a.md', content: 'a' }, ...links]), { tmpDir: dir.path, limits: { ...SPEC_LIMITS } });
    expect(result?.warnings).toHaveLength(101);
    expect(result?.warnings.at(-1)).toBe('dropped 50 more links');
  });

  it('rejects two entries for the same path', async () => {
    await expectRejected(await stage(await hostile.duplicatePath(), { tmpDir: dir.path }), 'invalid_archive');
  });

  it('rejects a path that is both a file and a directory', async () => {
    await expectRejected(await stage(await hostile.fileAndDirectory(), { tmpDir: dir.path }), 'invalid_archive');
  });

  it.each([
    ['bytes that are not gzip', hostile.garbage],
    ['a truncated gzip stream', hostile.truncatedGzip],
    ['gzip that does not hold a tar', hostile.gzippedGarbage],
    ['a tar whose last entry is cut short', hostile.truncatedTar],
    ['an empty archive', hostile.empty],
    ['an archive of directories only', hostile.onlyDirectories],
    ['an empty body', async () => Buffer.alloc(0)],
  ])('rejects %s as invalid_archive', async (_, archive) => {
    await expectRejected(await stage(await archive(), { tmpDir: dir.path }), 'invalid_archive');
  });

  it('takes shell metacharacters in file names as plain data', async () => {
    const { result, sink, error } = await stage(await hostile.shellMetacharacters(), { tmpDir: dir.path });
    expect(error).toBeUndefined();
    expect(result?.files.map(([path]) => path)).toEqual(['README.md', 'rules/$(reboot).md', 'rules/`id`;rm -rf ~ &.md', 'rules/it\'s "quoted" | tee >x.md']);
    expect((await listTarGz(sink.bytes)).map((e) => e.name)).toContain('rules/`id`;rm -rf ~ &.md');
  });
});

describe('stageArchive: limits', () => {
  it('rejects more than PLUGIN_INSTALL_MAX_FILES entries (20 000 files against 10 000)', async () => {
    const error = await expectRejected(await stage(manyFilesArchive(20_000), { tmpDir: dir.path }), 'plugin_too_large');
    expect(error.message).toMatch(/more than 10000 entries/);
  });

  it('rejects a plugin over PLUGIN_INSTALL_MAX_DIR_BYTES (101 MiB against 100 MiB)', async () => {
    const error = await expectRejected(await stage(bigArchive(101 * MiB), { tmpDir: dir.path }), 'plugin_too_large');
    expect(error.message).toMatch(/uncompressed/);
  });

  it('rejects an archive over PLUGIN_INSTALL_MAX_ARCHIVE_BYTES, counting compressed bytes', async () => {
    const incompressible = randomBytes(100_000);
    const archive = await tarGz([{ name: 'noise.bin', content: incompressible }]);
    const error = await expectRejected(await stage(archive, { tmpDir: dir.path, limits: { ...small, maxDirBytes: 10 * MiB } }), 'plugin_too_large');
    expect(error.message).toMatch(/archive is larger than 65536 bytes/);
  });

  it('rejects a header that claims more than the limit before reading its data', async () => {
    const bomb = gzipBomb({ inflatedBytes: 1024 * MiB });
    await expectRejected(await stage(bomb.stream, { tmpDir: dir.path, limits: small }), 'plugin_too_large');
    expect(bomb.stats.inflatedBytes).toBeLessThan(64 * MiB);
  });

  it('stops a bomb whose header understates its size', async () => {
    const bomb = gzipBomb({ inflatedBytes: 1024 * MiB, declaredSize: 10 });
    await expectRejected(await stage(bomb.stream, { tmpDir: dir.path, limits: small }), 'plugin_too_large');
    expect(bomb.stats.compressedBytes).toBeLessThan(256 * 1024);
  });
});

describe('stageArchive: manifest and integrity', () => {
  it.each([
    ['invalid YAML', hostile.badYaml, /not valid YAML/],
    ['a field of the wrong type', hostile.wrongTypes, /skills/],
    ['an invalid skill name', hostile.invalidSkillName, /skills\.0: invalid name/],
    ['an invalid plugin name', hostile.invalidManifestName, /name: invalid name "Bad Name"/],
  ])('rejects a plugin.yaml with %s as manifest_invalid', async (_, archive, message) => {
    const error = await expectRejected(await stage(await archive(), { tmpDir: dir.path }), 'manifest_invalid');
    expect(error.message).toMatch(message);
  });

  it('rejects a plugin.yaml larger than 256 KiB', async () => {
    const archive = await tarGz([{ name: 'plugin.yaml', content: `# ${'x'.repeat(300 * 1024)}\nname: big\n` }]);
    const error = await expectRejected(await stage(archive, { tmpDir: dir.path }), 'manifest_invalid');
    expect(error.message).toMatch(/larger than 262144 bytes/);
  });

  it('rejects content that does not match the sha256 plugin.yaml declares', async () => {
    const error = await expectRejected(await stage(await hostile.wrongSha256(), { tmpDir: dir.path }), 'integrity_mismatch');
    expect(error.message).toMatch(/declares sha256 0{64} but the content hashes to [0-9a-f]{64}/);
  });

  it('rejects content that does not match the sha256 the request carried', async () => {
    const archive = await tarGz(pluginEntries(ACC_GOOD_FILES));
    const error = await expectRejected(await stage(archive, { tmpDir: dir.path, expectedSha256: 'f'.repeat(64) }), 'integrity_mismatch');
    expect(error.message).toBe(`sha256 mismatch: expected ${'f'.repeat(64)}, got ${ACC_GOOD_HASH}`);
  });

  it('accepts content matching both the declared and the requested sha256', async () => {
    const files = { ...ACC_GOOD_FILES, 'plugin.yaml': `name: acc-good\nsha256: ${ACC_GOOD_HASH}\n` };
    const { result, error } = await stage(await tarGz(pluginEntries(files)), {
      tmpDir: dir.path,
      expectedSha256: ACC_GOOD_HASH.toUpperCase(),
    });
    expect(error).toBeUndefined();
    expect(result?.contentHash).toBe(ACC_GOOD_HASH);
  });

  it('rejects an invalid fallback name when plugin.yaml names none', async () => {
    const archive = await tarGz([{ name: 'a.md', content: 'a' }]);
    await expectRejected(await stage(archive, { tmpDir: dir.path, fallbackName: 'Not A Name' }), 'invalid_plugin_name');
  });
});

describe('stageArchive: the staged plugin', () => {
  it('stages the SPEC example: name, manifest, content hash, files and sizes', async () => {
    const archive = await tarGz(pluginEntries(ACC_GOOD_FILES));
    const { result, sink } = await stage(archive, { tmpDir: dir.path });
    expect(result).toMatchObject({
      name: 'acc-good',
      manifest: { name: 'acc-good', version: '1.0.0', skills: ['hello'], rules: ['style.md'], tags: [], runtimes: [] },
      contentHash: ACC_GOOD_HASH,
      fileCount: 3,
      totalBytes: Object.values(ACC_GOOD_FILES).reduce((n, text) => n + Buffer.byteLength(text), 0),
      compressedBytes: archive.length,
      archiveBytes: sink.bytes.length,
      // The SPEC example's SKILL.md has no frontmatter, which agentskills.io runtimes need.
      warnings: ['skills/hello/SKILL.md has no YAML frontmatter: it must start with a --- line, then name and description'],
    });
    expect(result?.files.map(([path]) => path)).toEqual(['plugin.yaml', 'rules/style.md', 'skills/hello/SKILL.md']);
    expect(sink).toMatchObject({ calls: 1, contentLength: sink.bytes.length });
    expect(await dir.leftovers()).toEqual([]);
  });

  it('warns about a declared skill that has no files', async () => {
    const archive = await tarGz(pluginEntries({ ...ACC_GOOD_FILES, ...HELLO_SKILL, 'plugin.yaml': 'name: acc-good\nskills: [hello, ghost]\n' }));
    const { result } = await stage(archive, { tmpDir: dir.path });
    expect(result?.warnings).toEqual(['plugin.yaml declares skill "ghost" but the plugin has no skills/ghost/ files']);
  });

  it('writes a normalized archive: sorted, parents present, modes capped, no owners, fixed mtime', async () => {
    const archive = await tarGz([
      { name: 'skills/hello/SKILL.md', content: '# hello\n', mode: 0o4777 },
      { name: 'empty/', type: 'directory', mode: 0o777 },
      { name: 'bin/run.sh', content: '#!/bin/sh\n', mode: 0o700 },
      { name: 'plugin.yaml', content: 'name: norm\n', mode: 0o600 },
    ]);
    const { sink } = await stage(archive, { tmpDir: dir.path });
    const entries = await listTarGz(sink.bytes);
    expect(entries.map((e) => [e.name, e.type, e.mode.toString(8)])).toEqual([
      ['bin/', 'directory', '755'],
      ['bin/run.sh', 'file', '755'],
      ['empty/', 'directory', '755'],
      ['plugin.yaml', 'file', '644'],
      ['skills/', 'directory', '755'],
      ['skills/hello/', 'directory', '755'],
      ['skills/hello/SKILL.md', 'file', '755'],
    ]);
    for (const entry of entries) {
      expect(entry).toMatchObject({ uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(0) });
    }
    expect(entries.find((e) => e.name === 'plugin.yaml')?.content.toString()).toBe('name: norm\n');
  });

  it('stages the same bytes for the same plugin, whatever the archive order and metadata', async () => {
    const a = await stage(await tarGz(pluginEntries(ACC_GOOD_FILES)), { tmpDir: dir.path });
    const reversed = pluginEntries(ACC_GOOD_FILES)
      .reverse()
      .map((e) => ({ ...e, mode: 0o664 }));
    const b = await stage(await tarGz([{ name: 'rules/', type: 'directory' }, ...reversed]), { tmpDir: dir.path });
    expect(b.sink.bytes.equals(a.sink.bytes)).toBe(true);
  });

  it('takes the fallback name when plugin.yaml names none', async () => {
    const { result } = await stage(await tarGz([{ name: 'a.md', content: 'a' }]), { tmpDir: dir.path, fallbackName: 'my-repo' });
    expect(result?.name).toBe('my-repo');
  });

  it('strips the single top-level directory of a GitHub tarball and ignores its pax global header', async () => {
    const comment = Buffer.from('52 comment=0123456789abcdef0123456789abcdef01234567\n');
    const paxGlobal = rawTar([{ header: { name: 'pax_global_header', size: comment.length, typeflag: 'g' }, data: comment }]);
    const rest = zlib.gunzipSync(await tarGz(pluginEntries(ACC_GOOD_FILES, 'acme-acc-good-0123abc')));
    const archive = zlib.gzipSync(Buffer.concat([paxGlobal.subarray(0, paxGlobal.length - 1024), rest]));
    const { result, error } = await stage(archive, { tmpDir: dir.path, stripTopLevel: true });
    expect(error).toBeUndefined();
    expect(result?.files.map(([path]) => path)).toEqual(['plugin.yaml', 'rules/style.md', 'skills/hello/SKILL.md']);
    expect(result?.contentHash).toBe(ACC_GOOD_HASH);
  });

  it.each([
    [
      'a file next to the top-level directory',
      [
        { name: 'top/a.md', content: 'a' },
        { name: 'stray.md', content: 'b' },
      ],
    ],
    [
      'a second top-level directory',
      [
        { name: 'top/a.md', content: 'a' },
        { name: 'other/b.md', content: 'b' },
      ],
    ],
  ])('rejects %s when stripping the top level', async (_, entries) => {
    await expectRejected(await stage(await tarGz(entries), { tmpDir: dir.path, stripTopLevel: true }), 'invalid_archive');
  });
});

describe('stageArchive: the root plugin.sig (SPEC §11)', () => {
  const SIG = '-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n';
  const MANIFEST_SHA = createHash('sha256')
    .update(ACC_GOOD_FILES['plugin.yaml'] ?? '')
    .digest('hex');

  it('reads it, leaves it out of the hash, the files and the staged tarball, and says what a signature must sign', async () => {
    const signedArchive = await tarGz(pluginEntries({ ...ACC_GOOD_FILES, 'plugin.sig': SIG }));
    const signed = await stage(signedArchive, { tmpDir: dir.path });
    const unsigned = await stage(await tarGz(pluginEntries(ACC_GOOD_FILES)), { tmpDir: dir.path });
    expect(signed.result?.contentHash).toBe(ACC_GOOD_HASH);
    expect(signed.result?.files.map(([path]) => path)).toEqual(['plugin.yaml', 'rules/style.md', 'skills/hello/SKILL.md']);
    expect(signed.sink.bytes.equals(unsigned.sink.bytes)).toBe(true);
    expect(signed.result?.signed).toEqual({
      statement: `molecule-plugin acc-good 1.0.0 ${ACC_GOOD_HASH} ${MANIFEST_SHA}`,
      signature: { armor: SIG, size: SIG.length },
    });
    expect(unsigned.result?.signed).toEqual({ statement: `molecule-plugin acc-good 1.0.0 ${ACC_GOOD_HASH} ${MANIFEST_SHA}`, signature: undefined });
  });

  it('names version 0.0.0 and 64 zeros without a plugin.yaml, and keeps a plugin.sig below the root', async () => {
    const { result } = await stage(await tarGz(pluginEntries({ 'rules/a.md': 'a\n', 'rules/plugin.sig': SIG })), { tmpDir: dir.path, fallbackName: 'bare' });
    expect(result?.files.map(([path]) => path)).toEqual(['rules/a.md', 'rules/plugin.sig']);
    expect(result?.signed).toEqual({ statement: `molecule-plugin bare 0.0.0 ${result?.contentHash} ${'0'.repeat(64)}`, signature: undefined });
  });

  it('holds at most MAX_SIGNATURE_BYTES of a 1 MB plugin.sig, and counts it whole', async () => {
    const big = Buffer.alloc(MiB, 'A');
    const { result } = await stage(await tarGz(pluginEntries({ ...ACC_GOOD_FILES, 'plugin.sig': big })), { tmpDir: dir.path });
    expect(result?.signed.signature).toEqual({ armor: 'A'.repeat(MAX_SIGNATURE_BYTES), size: MiB });
    expect(result?.totalBytes).toBeGreaterThan(MiB);
  });

  it('rejects two root plugin.sig entries', async () => {
    const archive = await tarGz([...pluginEntries({ ...ACC_GOOD_FILES, 'plugin.sig': SIG }), { name: './plugin.sig', content: SIG }]);
    const error = await expectRejected(await stage(archive, { tmpDir: dir.path }), 'invalid_archive');
    expect(error.message).toContain('two entries for "plugin.sig"');
  });

  it('asks `vet` before anything reaches the sink, and stores nothing when it refuses', async () => {
    const seen: unknown[] = [];
    const archive = await tarGz(pluginEntries({ ...ACC_GOOD_FILES, 'plugin.sig': SIG }));
    const refused = await stage(archive, {
      tmpDir: dir.path,
      vet: async (signed) => {
        seen.push(signed);
        throw new SignatureInvalid('refused');
      },
    });
    await expectRejected(refused, 'signature_invalid');
    expect(seen).toEqual([{ statement: expect.stringContaining(ACC_GOOD_HASH), signature: { armor: SIG, size: SIG.length } }]);
  });
});

describe('stageArchive: what molecule_plugin validate checks', () => {
  it.each([
    [
      'an empty plugin.yaml directory',
      [
        { name: 'plugin.yaml/', type: 'directory' as const },
        { name: 'a.md', content: 'a' },
      ],
    ],
    [
      'a plugin.yaml directory with files in it',
      [
        { name: 'plugin.yaml/name', content: 'x' },
        { name: 'a.md', content: 'a' },
      ],
    ],
  ])('refuses %s as manifest_invalid instead of installing without a manifest', async (_, entries) => {
    const error = await expectRejected(await stage(await tarGz(entries), { tmpDir: dir.path }), 'manifest_invalid');
    expect(error.message).toBe('plugin.yaml is a directory; it must be a file');
  });

  it('stages a plugin built from the SDK template: runtimes kept as written, claude-code supported', async () => {
    const files = { 'plugin.yaml': 'name: sdk-built\nversion: 0.1.0\nruntimes: [claude_code, deepagents]\n', ...HELLO_SKILL };
    const { result } = await stage(await tarGz(pluginEntries(files)), { tmpDir: dir.path });
    expect(result?.manifest.runtimes).toEqual(['claude_code', 'deepagents']);
    expect(supportsRuntime(result?.manifest.runtimes ?? [], 'claude-code')).toBe(true);
    expect(result?.warnings).toEqual([]);
  });

  it('stages a manifest without a name under its source name, with a warning', async () => {
    const files = { 'plugin.yaml': 'version: 2.0.0\nruntimes: [codex]\n', ...HELLO_SKILL };
    const { result } = await stage(await tarGz(pluginEntries(files)), { tmpDir: dir.path, fallbackName: 'my-repo' });
    expect(result).toMatchObject({ name: 'my-repo', manifest: { version: '2.0.0' } });
    expect(result?.warnings).toEqual([
      'plugin.yaml has no name; the plugin takes the name of its source',
      'plugin.yaml declares runtime "codex", which is not a known runtime; no such workspace will list it',
    ]);
  });

  it('refuses a manifest that carries a credential', async () => {
    const files = { 'plugin.yaml': 'name: leaky\ndescription: "key AKIAIOSFODNN7EXAMPLE"\n', 'a.md': 'a' };
    const error = await expectRejected(await stage(await tarGz(pluginEntries(files)), { tmpDir: dir.path }), 'manifest_invalid');
    expect(error.message).toMatch(/description: looks like it holds an AWS access key/);
    expect(error.message).not.toContain('AKIAIOSFODNN7EXAMPLE');
  });

  it('warns about each skill folder whose SKILL.md is missing, has no frontmatter or names another folder', async () => {
    const files = {
      'plugin.yaml': 'name: skills\n',
      ...HELLO_SKILL,
      'skills/bare/SKILL.md': '# bare\n',
      'skills/renamed/SKILL.md': '---\nname: other\ndescription: d\n---\n',
      'skills/empty-dir/references/notes.md': 'notes',
      'skills/README.md': 'not a skill folder',
      'docs/skills/x/SKILL.md': 'not under skills/',
    };
    const { result } = await stage(await tarGz([...pluginEntries(files), { name: 'skills/only-dir/', type: 'directory' }]), { tmpDir: dir.path });
    expect(result?.warnings).toEqual([
      'skills/bare/SKILL.md has no YAML frontmatter: it must start with a --- line, then name and description',
      'skills/empty-dir/ has no SKILL.md, so runtimes will not load it as a skill',
      'skills/only-dir/ has no SKILL.md, so runtimes will not load it as a skill',
      'skills/renamed/SKILL.md: name "other" differs from its folder "renamed"',
    ]);
  });

  it('reads only the head of a large SKILL.md: a valid frontmatter before 2 MiB of text passes', async () => {
    const big = Buffer.concat([Buffer.from('---\nname: big\ndescription: A long skill.\n---\n'), Buffer.alloc(2 * MiB, 'x')]);
    const { result } = await stage(await tarGz(pluginEntries({ 'plugin.yaml': 'name: big\n', 'skills/big/SKILL.md': big })), {
      tmpDir: dir.path,
    });
    expect(result?.warnings).toEqual([]);
  });

  it('warns when a large SKILL.md has no frontmatter end within the bytes it reads', async () => {
    const big = Buffer.concat([Buffer.from('---\nname: big\ndescription: '), Buffer.alloc(MiB, 'x')]);
    const { result } = await stage(await tarGz(pluginEntries({ 'skills/big/SKILL.md': big })), { tmpDir: dir.path });
    expect(result?.warnings).toEqual(['skills/big/SKILL.md: its frontmatter does not end within the first 8 KiB']);
  });

  it('summarizes a flood of SKILL.md problems instead of listing every one', async () => {
    const files = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`skills/s${String(i).padStart(2, '0')}/SKILL.md`, '# no frontmatter\n']));
    const { result } = await stage(await tarGz(pluginEntries(files)), { tmpDir: dir.path, limits: SPEC_LIMITS });
    expect(result?.warnings).toHaveLength(21);
    expect(result?.warnings[0]).toMatch(/^skills\/s00\/SKILL\.md has no YAML frontmatter/);
    expect(result?.warnings.at(-1)).toBe('10 more skills have SKILL.md problems');
  });
});

describe('stageArchive: failures on the way', () => {
  it('passes on a documented error from the source (a fetch timeout mid-body)', async () => {
    const archive = await tarGz(pluginEntries(ACC_GOOD_FILES));
    // The first 20 bytes, then the fetch times out once staging asks for more.
    let reads = 0;
    const body = new Readable({
      read() {
        if (reads++ === 0) this.push(archive.subarray(0, 20));
        else setImmediate(() => this.destroy(new FetchTimeout('fetching took too long')));
      },
    });
    const error = await expectRejected(await stage(body, { tmpDir: dir.path }), 'fetch_timeout');
    expect(error.message).toBe('fetching took too long');
  });

  it('reports a raw read error of the source as fetch_failed without its text', async () => {
    // The connection drops once staging reads from it (not after a fixed time, which a busy machine can outlast).
    const body = new Readable({
      read() {
        setImmediate(() => this.destroy(new Error('ECONNRESET from 10.0.0.1 secret-token')));
      },
    });
    const error = await expectRejected(await stage(body, { tmpDir: dir.path }), 'fetch_failed');
    expect(error.message).not.toMatch(/secret/);
  });

  it('reports a source that failed before staging began reading as fetch_failed, and does not crash on its error', async () => {
    // A connection reset (or the fetch budget's abort) while the work dir is still being made.
    const body = new Readable({ read() {} });
    body.destroy(new Error('ECONNRESET from 10.0.0.1 secret-token'));
    const error = await expectRejected(await stage(body, { tmpDir: dir.path }), 'fetch_failed');
    expect(error.message).not.toMatch(/secret/);
  });

  it('passes on a documented error the source failed with before staging began reading', async () => {
    const body = new Readable({ read() {} });
    body.destroy(new FetchTimeout('fetching took too long'));
    expect((await expectRejected(await stage(body, { tmpDir: dir.path }), 'fetch_timeout')).message).toBe('fetching took too long');
  });

  it('stops and cleans up when aborted mid-stream', async () => {
    const controller = new AbortController();
    const body = new Readable({ read() {} });
    body.push((await tarGz(pluginEntries(ACC_GOOD_FILES))).subarray(0, 30));
    setTimeout(() => controller.abort(new Error('lambda is out of time')), 20);
    const outcome = await stage(body, { tmpDir: dir.path, signal: controller.signal });
    expect((outcome.error as Error).message).toBe('lambda is out of time');
    expect(outcome.sink.calls).toBe(0);
    expect(await dir.leftovers()).toEqual([]);
  });

  it('propagates a failing sink and still removes the temp dir', async () => {
    const archive = await tarGz(pluginEntries(ACC_GOOD_FILES));
    const { stageArchive } = await import('../../../lambdas/staging/stage-archive.js');
    const failing = stageArchive(bytesStream(archive), async () => Promise.reject(new Error('S3 said no')), {
      limits: SPEC_LIMITS,
      stripTopLevel: false,
      fallbackName: 'x',
      tmpDir: dir.path,
    });
    await expect(failing).rejects.toThrow('S3 said no');
    expect(await dir.leftovers()).toEqual([]);
  });

  it.skipIf(process.platform !== 'linux')('leaks no file descriptors across rejections', async () => {
    const openFds = () => readdirSync('/proc/self/fd').length;
    const archives = await Promise.all([hostile.truncatedGzip(), hostile.dotDotEscape(), hostile.wrongSha256(), hostile.charDevice()]);
    await stage(archives[0]!, { tmpDir: dir.path }); // warm up lazily opened handles
    const before = openFds();
    for (let round = 0; round < 5; round++) {
      for (const archive of archives) await stage(archive, { tmpDir: dir.path });
      await stage(bigArchive(2 * MiB, 256 * 1024), { tmpDir: dir.path, limits: { ...small, maxDirBytes: MiB } });
    }
    // Handles close asynchronously: wait for it (bounded) rather than for a fixed time a loaded machine may need more of.
    await vi.waitFor(() => expect(openFds()).toBeLessThanOrEqual(before), { timeout: 10_000, interval: 50 });
    expect(await dir.leftovers()).toEqual([]);
  });
});
