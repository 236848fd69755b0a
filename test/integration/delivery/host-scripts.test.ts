import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseHostResult } from '../../../lambdas/delivery/host-command.js';
import { installScript, uninstallScript } from '../../../lambdas/delivery/host-scripts.js';
import { pluginTarball, TarballServer } from '../../support/plugin-tarballs.js';

/**
 * The uninstall script run straight with bash (no transport), once per awk found on this
 * machine: hosts ship gawk (Amazon Linux) or mawk (Ubuntu), and the script must not care.
 */
const AWKS = ['gawk', 'mawk', 'busybox'].filter((awk) => spawnSync('sh', ['-c', `command -v ${awk}`]).status === 0);

function bash(script: string, env: NodeJS.ProcessEnv): Promise<{ status: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { env }, (err, stdout) => {
      resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout });
    });
  });
}

let dir: string;
let tarballs: TarballServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'molecule-host-scripts-'));
  tarballs = new TarballServer();
  await tarballs.start();
});

afterAll(async () => {
  await tarballs?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('install script', () => {
  it('puts the live copy back when the new version cannot be renamed into place', async () => {
    const root = join(dir, 'install', 'root');
    const bin = join(dir, 'install', 'bin');
    await mkdir(bin, { recursive: true });
    const mv = execFileSync('sh', ['-c', 'command -v mv'], { encoding: 'utf8' }).trim();
    // An mv that refuses to move the staging directory, i.e. fails right after the live copy moved aside.
    await writeFile(join(bin, 'mv'), `#!/bin/sh\ncase "$*" in *.staging/*) exit 1;; esac\nexec ${mv} "$@"\n`, { mode: 0o755 });
    // Asynchronous: the tarball server lives in this process and must keep answering.
    const install = (tarballUrl: string, path = process.env.PATH) =>
      bash(installScript({ configDir: '/configs', pluginName: 'acme.tools', tarballUrl, ts: String(Date.now()) }), {
        PATH: path,
        MOLECULE_HOST_ROOT: root,
      });
    const live = join(root, 'configs', 'plugins', 'acme.tools', 'rules', 'x.md');
    expect((await install(tarballs.put('/v1.tar.gz', await pluginTarball({ 'rules/x.md': 'v1\n' })))).status).toBe(0);

    const run = await install(tarballs.put('/v2.tar.gz', await pluginTarball({ 'rules/x.md': 'v2\n' })), `${bin}:${process.env.PATH}`);

    expect(run.status).not.toBe(0);
    expect(parseHostResult(run.stdout)).toEqual({ ok: false, code: 'delivery_failed', step: 'swap', restored: true });
    expect(await readFile(live, 'utf8')).toBe('v1\n');
    expect(existsSync(join(root, 'configs', 'plugins', '.staging'))).toBe(false);
    expect(existsSync(join(root, 'configs', 'plugins', '.previous', 'acme.tools'))).toBe(false);
  });
});

describe.each(AWKS)('uninstall script with %s', (awk) => {
  let root: string;
  let configs: string;
  let bin: string;

  beforeEach(async () => {
    root = join(dir, awk, 'root');
    bin = join(dir, awk, 'bin');
    configs = join(root, 'configs');
    await rm(join(dir, awk), { recursive: true, force: true });
    await mkdir(join(configs, 'plugins', 'acme.tools'), { recursive: true });
    await mkdir(bin, { recursive: true });
    const target = execFileSync('sh', ['-c', `command -v ${awk}`], { encoding: 'utf8' }).trim();
    await writeFile(join(bin, 'awk'), awk === 'busybox' ? `#!/bin/sh\nexec ${target} awk "$@"\n` : `#!/bin/sh\nexec ${target} "$@"\n`, { mode: 0o755 });
  });

  function uninstall(skills: string[] = []) {
    const run = spawnSync('bash', ['-c', uninstallScript({ configDir: '/configs', pluginName: 'acme.tools', skills })], {
      env: { PATH: `${bin}:${process.env.PATH}`, MOLECULE_HOST_ROOT: root },
      encoding: 'utf8',
    });
    return { status: run.status, result: parseHostResult(run.stdout), stderr: run.stderr };
  }

  async function manifest(text: string) {
    await writeFile(join(configs, 'plugins', 'acme.tools', 'plugin.yaml'), text);
  }

  /** Skills the plugin installed: its own copy in configs/skills/<name>, equal to the one in its directory. */
  async function skillDirs(...names: string[]) {
    for (const name of names) {
      for (const base of [join(configs, 'skills'), join(configs, 'plugins', 'acme.tools', 'skills')]) {
        await mkdir(join(base, name), { recursive: true });
        await writeFile(join(base, name, 'SKILL.md'), `# ${name}\n`);
      }
    }
  }

  /** A skill dir the plugin did not install. */
  async function userSkillDir(name: string, files: Record<string, string>) {
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(configs, 'skills', name, path, '..'), { recursive: true });
      await writeFile(join(configs, 'skills', name, path), content);
    }
  }

  it.each([
    ['a block list', 'name: acme.tools\nskills:\n  - one\n  - "two"   # quoted\n  - three\nversion: 1.0.0\n'],
    ['a flow list', "name: acme.tools\nskills: [one, 'two', three]\n"],
    ['a list of named items', 'skills:\n- name: one\n  description: first\n  tags:\n    - nested-not-a-skill\n- name: two\n- name: three\n'],
    ['CRLF line endings', 'skills:\r\n  - one\r\n  - two\r\n  - three\r\n'],
  ])('removes the skills a manifest declares as %s', async (_label, yaml) => {
    await manifest(yaml);
    await skillDirs('one', 'two', 'three');
    await userSkillDir('nested-not-a-skill', { 'SKILL.md': '# nested\n' });
    await userSkillDir('unrelated', { 'SKILL.md': '# unrelated\n' });

    const { status, result } = uninstall();

    expect(status).toBe(0);
    expect(result).toMatchObject({ ok: true, removedSkills: 3 });
    expect(existsSync(join(configs, 'skills', 'nested-not-a-skill'))).toBe(true);
    expect(existsSync(join(configs, 'skills', 'unrelated'))).toBe(true);
  });

  it('ignores declared skill names that could escape the skills directory', async () => {
    await manifest('skills:\n  - ../victim\n  - /etc\n  - ok\n');
    await mkdir(join(configs, 'victim'), { recursive: true });
    await skillDirs('ok');

    const { result } = uninstall();

    expect(result).toMatchObject({ ok: true, removedSkills: 1 });
    expect(existsSync(join(configs, 'victim'))).toBe(true);
  });

  it('keeps, byte for byte and with a warning, a declared skill dir that is not the copy this plugin installed', async () => {
    await manifest('skills: [user-private-skill, mine]\n');
    await skillDirs('mine');
    const privateFiles = { 'SKILL.md': '# my own notes\n', 'notes/secret.md': 'do not delete\n' };
    await userSkillDir('user-private-skill', privateFiles);
    // Same name as one the plugin ships, but edited since: no longer the plugin's copy.
    await mkdir(join(configs, 'plugins', 'acme.tools', 'skills', 'edited'), { recursive: true });
    await writeFile(join(configs, 'plugins', 'acme.tools', 'skills', 'edited', 'SKILL.md'), '# edited\n');
    await userSkillDir('edited', { 'SKILL.md': '# edited, by the user\n' });

    const { status, result } = uninstall(['edited']);

    expect(status).toBe(0);
    expect(result).toMatchObject({ ok: true, removedSkills: 1, keptSkills: ['edited', 'user-private-skill'] });
    expect(existsSync(join(configs, 'skills', 'mine'))).toBe(false);
    for (const [path, content] of Object.entries(privateFiles)) {
      expect(await readFile(join(configs, 'skills', 'user-private-skill', path), 'utf8')).toBe(content);
    }
    expect(await readFile(join(configs, 'skills', 'edited', 'SKILL.md'), 'utf8')).toBe('# edited, by the user\n');
  });

  it('removes the skills the caller names even without a manifest', async () => {
    await skillDirs('known');

    expect(uninstall(['known']).result).toMatchObject({ ok: true, removedSkills: 1 });
    expect(existsSync(join(configs, 'skills', 'known'))).toBe(false);
  });

  it.each([
    ['a block at the end of the file', 'keep\n# Plugin: acme.tools / rule: a.md\ngone\n', 'keep\n'],
    ['a block ended by two blank lines', '# Plugin: acme.tools / rule: a.md\ngone\n\n\nkeep\n', 'keep\n'],
    ['a block with single blank lines inside', '# Plugin: acme.tools / fragment: f\ngone\n\ngone too\n\n\n\nkeep\n', '\nkeep\n'],
    ['a plugin whose name extends this one', '# Plugin: acme.tools.extra / rule: a.md\nkeep\n', null],
    ['a header that is neither rule nor fragment', '# Plugin: acme.tools / note: a\nkeep\n', null],
    ['CRLF line endings', 'keep\r\n# Plugin: acme.tools / rule: a.md\r\ngone\r\n\r\n\r\nkeep too\r\n', 'keep\r\nkeep too\r\n'],
  ])('strips markers correctly for %s', async (_label, before, after) => {
    await writeFile(join(configs, 'CLAUDE.md'), before);

    const { result } = uninstall();

    expect(await readFile(join(configs, 'CLAUDE.md'), 'utf8')).toBe(after ?? before);
    expect(result).toMatchObject({ ok: true, strippedFiles: after === null ? 0 : 1 });
  });

  it('edits a symlinked memory file in place', async () => {
    await writeFile(join(root, 'real.md'), 'keep\n# Plugin: acme.tools / rule: a.md\ngone\n');
    await symlink(join(root, 'real.md'), join(configs, 'AGENTS.md'));

    uninstall();

    expect(await readFile(join(root, 'real.md'), 'utf8')).toBe('keep\n');
  });
});
