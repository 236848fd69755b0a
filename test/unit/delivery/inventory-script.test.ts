import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { contentHash } from '../../../packages/sdk/src/contract/content-hash.js';
import { parseHostResult, RESULT_PREFIX, type HostResult } from '../../../lambdas/delivery/host-command.js';
import { cleanScript, installScript, inventoryScript, type InstallMarker } from '../../../lambdas/delivery/host-scripts.js';
import { readInventory, type HostInventory } from '../../../lambdas/delivery/inventory.js';
import { compareWithRecords } from '../../../lambdas/plugins/drift.js';
import { ACC_GOOD_FILES, ACC_GOOD_HASH } from '../../support/archives.js';
import { pluginTarball, TarballServer } from '../../support/plugin-tarballs.js';
import { stage } from '../../support/stage-helpers.js';

/**
 * SPEC §12's inventory on the host (scripts/inventory.sh), with real bash on an emulated host root,
 * uploaded to a stand-in for the presigned PUT URL and read back as the Inventory step reads it: the
 * content hash computed from it is the one Stage computes, the host is left as it was, and however
 * much the host holds, what comes back through the transport is one short line.
 */
const SSM_OUTPUT_LIMIT = 24_000;
const REPO_PLUGINS = new URL('../../../plugins/', import.meta.url);

let dir: string;
let root: string;
let plugins: string;
let stamp = 0;
const uploads = new Map<string, Buffer>();
let server: Server;
let uploadBase = '';
let tarballs: TarballServer;

function bash(script: string): Promise<{ status: number; stdout: string; result: HostResult | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { env: { PATH: process.env.PATH, MOLECULE_HOST_ROOT: root }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, result: parseHostResult(stdout), stderr });
    });
  });
}

/** Runs the inventory and reads back what the host uploaded. */
async function inventory(): Promise<{ run: Awaited<ReturnType<typeof bash>>; inventory: HostInventory }> {
  const path = `/inventories/${++stamp}.tar.gz`;
  const run = await bash(inventoryScript({ configDir: '/configs', uploadUrl: `${uploadBase}${path}`, uploadTimeoutSeconds: 30, maxBytes: 64 * 1024 * 1024 }));
  expect(run.result, run.stderr).toMatchObject({ ok: true, action: 'inventoried' });
  const body = uploads.get(path);
  if (!body) throw new Error('nothing was uploaded');
  expect(run.result?.bytes).toBe(body.length);
  return { run, inventory: await readInventory(Readable.from([body])) };
}

/** Every entry under a directory with its type, mode, size and bytes: what "changed nothing" compares. */
async function snapshot(base: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(base, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path).catch(() => null);
    const bytes = entry.isFile()
      ? createHash('sha256')
          .update(await readFile(path))
          .digest('hex')
      : '';
    out[path.slice(base.length)] = `${entry.isDirectory() ? 'd' : entry.isSymbolicLink() ? 'l' : 'f'} ${info?.mode} ${info?.size} ${info?.mtimeMs} ${bytes}`;
  }
  return out;
}

async function writeFiles(base: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(base, path, '..'), { recursive: true });
    await writeFile(join(base, path), content);
  }
}

const sha = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'molecule-inventory-'));
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'PUT') {
        res.writeHead(405).end();
        return;
      }
      uploads.set(req.url ?? '', Buffer.concat(chunks));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  uploadBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  tarballs = new TarballServer();
  await tarballs.start();
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await tarballs?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  root = join(dir, `host-${++stamp}`);
  plugins = join(root, 'configs', 'plugins');
});

describe('the inventory on the host', () => {
  it('gives every plugin dir the content hash Stage computes, for the sample plugins and SPEC §3’s example', async () => {
    const names = (await readdir(REPO_PLUGINS)).sort();
    const staged: Record<string, string> = {};
    for (const name of names) {
      await cp(new URL(name, REPO_PLUGINS), join(plugins, name), { recursive: true });
      const files: Record<string, string> = {};
      for (const entry of await readdir(new URL(name, REPO_PLUGINS), { recursive: true, withFileTypes: true })) {
        if (entry.isFile())
          files[join(entry.parentPath, entry.name).slice(new URL(name, REPO_PLUGINS).pathname.length + 1)] = await readFile(
            join(entry.parentPath, entry.name),
            'utf8',
          );
      }
      const { result } = await stage(await pluginTarball(files), { tmpDir: dir, fallbackName: name });
      staged[name] = result?.contentHash ?? '';
    }
    await writeFiles(join(plugins, 'acc-good'), ACC_GOOD_FILES);

    const { inventory: found } = await inventory();
    const drift = compareWithRecords(found, { installed: [], active: new Map() });

    expect([...drift.found.keys()]).toEqual(['acc-good', ...names].sort());
    for (const name of names) expect(drift.found.get(name)?.sha256, name).toBe(staged[name]);
    expect(drift.found.get('acc-good')?.sha256).toBe(ACC_GOOD_HASH);
    expect(drift.found.get('hello-skill')).toMatchObject({ version: '1.0.0', skills: ['hello'] });
  });

  it('reads names sha256sum escapes, non-ASCII ones and a root plugin.yaml as they are', async () => {
    const files = {
      'plugin.yaml': 'name: odd\n',
      'rules/ünïcødé.md': 'u\n',
      'rules/back\\slash.md': 'b\n',
      'rules/new\nline.md': 'n\n',
      'rules/tab\tbed.md': 't\n',
    };
    await writeFiles(join(plugins, 'odd'), files);

    const { inventory: found } = await inventory();

    const [odd] = found.plugins;
    expect(odd?.files.map((f) => f.path).sort()).toEqual(Object.keys(files).sort());
    for (const file of odd?.files ?? []) {
      expect(file.sha256, file.path).toBe(sha(files[file.path as keyof typeof files]));
      expect(file.size).toBe(Buffer.byteLength(files[file.path as keyof typeof files]));
    }
    expect(compareWithRecords(found, { installed: [], active: new Map() }).found.get('odd')?.sha256).toBe(
      contentHash(Object.entries(files).map(([path, text]) => [path, sha(text)] as const)),
    );
  });

  it('changes nothing on the host', async () => {
    await writeFiles(join(plugins, 'a'), { 'plugin.yaml': 'name: a\n', 'rules/x.md': 'x\n' });
    await writeFiles(plugins, { '.staging/a.123/rules/x.md': 'half\n', '.previous/a/rules/x.md': 'old\n', '.molecule/a.json': '{}' });
    await writeFiles(join(root, 'configs'), { 'skills/s/SKILL.md': 's\n', 'CLAUDE.md': '# me\n' });
    const before = await snapshot(root);

    await inventory();

    expect(await snapshot(root)).toEqual(before);
  });

  it('lists debris, the markers and the skills each plugin owns', async () => {
    // Two real installs of `kit` (so .previous/kit and its saved marker are the installed plugin's), one of `gone`.
    const kit = (version: string) => ({ 'plugin.yaml': `name: kit\nversion: ${version}\nskills: [guide]\n`, 'skills/guide/SKILL.md': `guide ${version}\n` });
    const installs: Array<[string, Record<string, string>, InstallMarker]> = [
      ['kit', kit('1'), { sha256: 'a'.repeat(64), source: 'local://kit', version: '1', skills: ['guide'], runtimes: [] }],
      ['kit', kit('2'), { sha256: 'b'.repeat(64), source: 'github://acme/kit#v2', version: '2', skills: ['guide'], runtimes: [] }],
    ];
    for (const [name, files, installed] of installs) {
      const tarballUrl = tarballs.put(`/${name}-${++stamp}.tar.gz`, await pluginTarball(files));
      expect((await bash(installScript({ configDir: '/configs', pluginName: name, tarballUrl, ts: `t${stamp}`, installed }))).result).toMatchObject({
        ok: true,
      });
    }
    await writeFiles(join(root, 'configs', 'skills'), { 'guide/SKILL.md': 'guide 2\n' });
    await writeFiles(plugins, {
      '.staging/kit.20240101T000000000Z/rules/x.md': 'half\n',
      '.staging/kit.20240101T000000000Z.tar.gz': 'x',
      '.previous/gone/rules/x.md': 'old\n',
      '.previous/.markers/gone.json': '{}',
      '.molecule/gone.json': '{}',
      '.molecule/.kit.123': '{',
    });

    const { inventory: found } = await inventory();
    const drift = compareWithRecords(found, { installed: [{ name: 'kit', version: '2', sha256: 'x'.repeat(64) }], active: new Map() });

    expect(drift.debris).toEqual([
      '.molecule/.kit.123',
      '.molecule/gone.json',
      '.previous/.markers/gone.json',
      '.previous/gone',
      '.staging/kit.20240101T000000000Z',
      '.staging/kit.20240101T000000000Z.tar.gz',
    ]);
    expect(drift.plugins).toEqual([
      expect.objectContaining({
        name: 'kit',
        state: 'modified',
        found: expect.objectContaining({ version: '2', source: 'github://acme/kit#v2', skills: ['guide'] }),
      }),
    ]);
  });

  it('answers a host with 500 plugins and 10 000 files in one short line, and uploads all of it', async () => {
    for (let p = 0; p < 500; p++) {
      const base = join(plugins, `plugin-${String(p).padStart(3, '0')}-with-a-rather-long-name-to-weigh-on-the-output`);
      await mkdir(join(base, 'rules'), { recursive: true });
      for (let f = 0; f < 20; f++) await writeFile(join(base, 'rules', `rule-${f}.md`), `rule ${p}.${f}\n`);
    }

    const { run, inventory: found } = await inventory();

    expect(run.stdout.length).toBeLessThan(SSM_OUTPUT_LIMIT);
    expect(run.stdout.split('\n').filter(Boolean)).toEqual([expect.stringMatching(new RegExp(`^${RESULT_PREFIX}`))]);
    expect(run.result).toMatchObject({ files: 10_000 });
    expect(found.plugins).toHaveLength(500);
    expect(found.plugins.reduce((n, p) => n + p.files.length, 0)).toBe(10_000);
  }, 60_000);

  it('reports an inventory larger than the caller allows without uploading it', async () => {
    await writeFiles(join(plugins, 'a'), { 'rules/x.md': 'x\n' });
    const path = `/inventories/${++stamp}.tar.gz`;

    const run = await bash(inventoryScript({ configDir: '/configs', uploadUrl: `${uploadBase}${path}`, uploadTimeoutSeconds: 30, maxBytes: 10 }));

    expect(run.result).toMatchObject({ ok: false, code: 'inventory_too_large' });
    expect(uploads.has(path)).toBe(false);
  });

  it('inventories a host without a plugins dir as empty', async () => {
    await mkdir(join(root, 'configs'), { recursive: true });

    const { inventory: found } = await inventory();

    expect(found).toMatchObject({ plugins: [], own: [] });
  });
});

describe('the clean-up on the host', () => {
  it('removes the debris named and nothing else', async () => {
    await writeFiles(join(plugins, 'a'), { 'rules/x.md': 'x\n' });
    await writeFiles(plugins, { '.staging/a.1/x': '1', '.staging/a.2/x': '2', '.previous/b/x': 'b', '.previous/a/x': 'a', '.molecule/b.json': '{}' });
    const before = await snapshot(root);

    const run = await bash(cleanScript({ configDir: '/configs', paths: ['.staging/a.1', '.previous/b', '.molecule/b.json', '.staging/already-gone'] }));

    expect(run.result).toEqual({ ok: true, action: 'cleaned', removed: 3 });
    const after = await snapshot(root);
    const removed = Object.keys(before).filter((path) => !(path in after));
    expect(removed.sort()).toEqual(
      [
        '/configs/plugins/.staging/a.1',
        '/configs/plugins/.staging/a.1/x',
        '/configs/plugins/.previous/b',
        '/configs/plugins/.previous/b/x',
        '/configs/plugins/.molecule/b.json',
      ].sort(),
    );
    // Everything but the delivery's own dirs (whose entries went) is as it was.
    for (const path of Object.keys(after)) if (!path.startsWith('/configs/plugins/.')) expect(after[path], path).toBe(before[path]);
  });

  it('does not follow a symlinked dir of the agent’s making, and refuses a path outside the debris dirs', async () => {
    const outside = join(root, 'precious');
    await writeFiles(outside, { keep: 'k' });
    await mkdir(plugins, { recursive: true });
    await symlink(outside, join(plugins, '.staging'));

    expect((await bash(cleanScript({ configDir: '/configs', paths: ['.staging/keep'] }))).result).toEqual({ ok: true, action: 'cleaned', removed: 0 });
    expect(await readFile(join(outside, 'keep'), 'utf8')).toBe('k');
    expect(() => cleanScript({ configDir: '/configs', paths: ['a/x'] })).toThrow(/debris/);
    expect(() => cleanScript({ configDir: '/configs', paths: ['.staging/..'] })).toThrow(/debris/);
    const raw = cleanScript({ configDir: '/configs', paths: ['.staging/x'] }).replace("PATHS='.staging/x'", "PATHS='../precious'");
    expect((await bash(raw)).result).toEqual({ ok: false, code: 'delivery_failed', step: 'clean' });
    expect(await readFile(join(outside, 'keep'), 'utf8')).toBe('k');
  });
});
