import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseHostResult } from '../../../lambdas/delivery/host-command.js';
import { type InstallMarker, installScript } from '../../../lambdas/delivery/host-scripts.js';
import { pluginTarball, TarballServer } from '../../support/plugin-tarballs.js';

/**
 * What the install script leaves in `plugins/` when it fails at each step of a first install:
 * the directories it made for the steps (`.staging`, `.previous`, `.molecule`) and the
 * downloaded archive go again; those an earlier install made stay.
 */

// Not root, the script keeps the files when chown fails (see `own`), so chown cannot fail it.
const RUNNING_AS_ROOT = process.getuid?.() === 0;
const MARKER: InstallMarker = { sha256: 'a'.repeat(64), source: 'local://acme.tools', version: '1.0.0', skills: [], runtimes: [] };

let dir: string;
let root: string;
let bin: string;
let tarballs: TarballServer;
let good: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'molecule-install-leftovers-'));
  tarballs = new TarballServer();
  await tarballs.start();
  good = tarballs.put('/good.tar.gz', await pluginTarball({ 'plugin.yaml': 'name: acme.tools\n', 'rules/x.md': 'x\n' }));
});

afterAll(async () => {
  await tarballs?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await rm(dir, { recursive: true, force: true });
  root = join(dir, 'root');
  bin = join(dir, 'bin');
  await mkdir(join(root, 'configs', 'plugins'), { recursive: true });
  await mkdir(bin, { recursive: true });
});

const plugins = () => join(root, 'configs', 'plugins');
const listing = async () => (await readdir(plugins(), { recursive: true })).sort();

/** Puts a `command` on PATH that fails when its arguments match `args` (a sh pattern), as on a host that refuses it. */
async function failing(command: string, args = '*') {
  const real = execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim();
  await writeFile(join(bin, command), `#!/bin/sh\ncase "$*" in ${args}) echo "${command}: refused" >&2; exit 1;; esac\nexec ${real} "$@"\n`, {
    mode: 0o755,
  });
}

// Asynchronous: the tarball server lives in this process and must keep answering.
function install(pluginName: string, tarballUrl: string, installed: InstallMarker | null = MARKER) {
  const script = installScript({ configDir: '/configs', pluginName, tarballUrl, ts: String(Date.now()), ...(installed ? { installed } : {}) });
  return new Promise<{ status: number; result: ReturnType<typeof parseHostResult> }>((resolve) => {
    execFile('bash', ['-c', script], { env: { PATH: `${bin}:${process.env.PATH}`, MOLECULE_HOST_ROOT: root } }, (err, stdout) => {
      resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, result: parseHostResult(stdout) });
    });
  });
}

describe('a first install that fails', () => {
  it.each([
    ['download', 'curl'],
    ['unpack', 'tar'],
    ...(RUNNING_AS_ROOT ? [['chown', 'chown']] : []),
    ['swap', 'mv', '*.staging/*'],
    ['marker', 'mv', '*.molecule/*'],
  ])('at %s leaves plugins/ as it found it', async (step, command, args) => {
    await failing(command, args);

    const run = await install('acme.tools', good);

    expect(run.status).not.toBe(0);
    expect(run.result).toEqual({ ok: false, code: 'delivery_failed', step, restored: true });
    expect(await listing()).toEqual([]);
  });

  it('keeps the directories an earlier install made', async () => {
    expect((await install('acme.other', good)).status).toBe(0);
    const before = await listing();
    expect(before).toEqual(expect.arrayContaining(['.previous', '.molecule', join('.molecule', 'acme.other.json')]));

    const run = await install('acme.tools', `${tarballs.url}/missing.tar.gz`);

    expect(run.result).toMatchObject({ ok: false, step: 'download' });
    expect(await listing()).toEqual(before);
  });
});

describe('a first install that succeeds', () => {
  it('leaves the plugin, .previous and its marker, and no archive or staging', async () => {
    expect((await install('acme.tools', good)).result).toMatchObject({ ok: true, replacedPrevious: false });

    expect((await readdir(plugins())).sort()).toEqual(['.molecule', '.previous', 'acme.tools']);
    expect(await readdir(join(plugins(), '.molecule'))).toEqual(['acme.tools.json']);
  });

  it('without a marker makes no .molecule directory', async () => {
    expect((await install('acme.tools', good, null)).status).toBe(0);

    expect((await readdir(plugins())).sort()).toEqual(['.previous', 'acme.tools']);
  });
});
