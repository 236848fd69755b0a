import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseHostResult, type HostResult } from '../../../lambdas/delivery/host-command.js';
import { healthScript, installScript, probeScript, restartScript, uninstallScript, type InstallMarker } from '../../../lambdas/delivery/host-scripts.js';
import { pluginTarball, TarballServer } from '../../support/plugin-tarballs.js';

/**
 * The health gate's host script (SPEC §9) run with real bash on an emulated host root, after
 * real installs (install.sh) and a real restart: what it reports, and what the host holds after.
 */
const NAME = 'acme.tools';
const WS = 'ws-1';
/** Appends to the restart log, as the local stack's restart command does. */
const RESTART = 'mkdir -p "$MOLECULE_HOST_ROOT/var/log" && echo restart {workspaceId} >> "$MOLECULE_HOST_ROOT/var/log/molecule-restarts.log"';
/** Short: every gate that never passes waits for it. */
const FAILING_TIMEOUT_SECONDS = 2;

const V1 = {
  'plugin.yaml': `name: ${NAME}\nversion: 1.0.0\nskills:\n  - s1\n`,
  'rules/x.md': 'Always be kind (v1).\n',
  'skills/s1/SKILL.md': '# s1\nSay hello (v1).\n',
};
const V2 = { ...V1, 'plugin.yaml': `name: ${NAME}\nversion: 2.0.0\nskills:\n  - s1\n`, 'rules/x.md': 'Always be kind (v2).\n' };
const marker = (version: string, sha: string): InstallMarker => ({ sha256: sha.repeat(64), source: `local://${NAME}`, version, skills: ['s1'], runtimes: [] });

let dir: string;
let tarballs: TarballServer;
let root: string;
let configs: string;
let plugins: string;
let stamp = 0;

/** Asynchronous: the tarball server lives in this process and must keep answering. */
function bash(script: string, path = process.env.PATH): Promise<{ status: number; result: HostResult | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { env: { PATH: path, MOLECULE_HOST_ROOT: root } }, (err, stdout, stderr) => {
      resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, result: parseHostResult(stdout), stderr });
    });
  });
}

async function install(files: Record<string, string>, installed: InstallMarker) {
  const tarballUrl = tarballs.put(`/${NAME}-${++stamp}.tar.gz`, await pluginTarball(files));
  const run = await bash(installScript({ configDir: '/configs', pluginName: NAME, tarballUrl, ts: `t${stamp}`, installed }));
  expect(run.result).toMatchObject({ ok: true, action: 'installed' });
}

async function restart() {
  expect((await bash(restartScript({ workspaceId: WS, command: RESTART, configDir: '/configs' }))).result).toEqual({ ok: true, action: 'restarted' });
}

function gate(command: string, { timeoutSeconds = FAILING_TIMEOUT_SECONDS, skills = ['s1'], path = process.env.PATH } = {}) {
  const script = healthScript({
    configDir: '/configs',
    plugins: [{ name: NAME, skills }],
    workspaceId: WS,
    command,
    timeoutSeconds,
    restartCommand: RESTART,
    restartTimeoutSeconds: 30,
  });
  return bash(script, path);
}

const decoded = (result: HostResult | null) => Buffer.from(result?.output ?? '', 'base64').toString('utf8');
const restarts = async () => (await readFile(join(root, 'var', 'log', 'molecule-restarts.log'), 'utf8')).split('\n').filter(Boolean);

async function tree(base: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(join(base, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) Object.assign(out, await tree(base, rel));
    else out[rel] = await readFile(join(base, rel), 'utf8');
  }
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'molecule-health-script-'));
  tarballs = new TarballServer();
  await tarballs.start();
});

afterAll(async () => {
  await tarballs?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  root = join(dir, `host-${++stamp}`);
  configs = join(root, 'configs');
  plugins = join(configs, 'plugins');
});

describe('the health gate on the host', () => {
  it('passes at once when the check exits 0, and changes nothing', async () => {
    await install(V1, marker('1.0.0', 'a'));
    await install(V2, marker('2.0.0', 'b'));
    await restart();

    const run = await gate('echo "agent up for" {workspaceId}', { timeoutSeconds: 30 });

    expect(run).toMatchObject({ status: 0, result: { ok: true, healthy: true, checks: 1 } });
    expect(run.result?.rolledBack).toBeUndefined();
    expect(decoded(run.result)).toBe('agent up for ws-1\n');
    expect(await tree(join(plugins, NAME))).toEqual(V2);
    expect(await restarts()).toHaveLength(1);
  });

  it('passes once the check does, after failed runs, reporting the last run only', async () => {
    await install(V1, marker('1.0.0', 'a'));
    const counter = join(root, 'checks');
    // Fails twice, then passes: about 4 s of the 30 allowed.
    const command = `n=$(( $(cat ${counter} 2>/dev/null || echo 0) + 1 )); echo $n > ${counter}; echo "run $n" >&2; [ $n -ge 3 ]`;

    const run = await gate(command, { timeoutSeconds: 30 });

    expect(run).toMatchObject({ status: 0, result: { ok: true, healthy: true, checks: 3 } });
    expect(decoded(run.result)).toBe('run 3\n');
    expect(await tree(join(plugins, NAME))).toEqual(V1);
  });

  it('puts the replaced version back byte for byte with its install marker, and restarts again, when the check never passes', async () => {
    await install(V1, marker('1.0.0', 'a'));
    const v1Marker = await readFile(join(plugins, '.molecule', `${NAME}.json`), 'utf8');
    await install(V2, marker('2.0.0', 'b'));
    await restart();

    const run = await gate('echo "not yet: $CONFIG_DIR"; exit 3');

    expect(run).toMatchObject({ status: 0, result: { ok: true, healthy: false, rolledBack: true } });
    expect(run.result?.checks).toBeGreaterThanOrEqual(1);
    expect(decoded(run.result)).toBe(`not yet: ${configs}\n`);
    expect(await tree(join(plugins, NAME))).toEqual(V1);
    expect(await readFile(join(plugins, '.molecule', `${NAME}.json`), 'utf8')).toBe(v1Marker);
    expect(await restarts()).toEqual(['restart ws-1', 'restart ws-1']);
    expect(existsSync(join(plugins, '.previous', NAME))).toBe(false);
    expect(existsSync(join(plugins, '.previous', '.markers', `${NAME}.json`))).toBe(false);
    expect(existsSync(join(plugins, '.staging'))).toBe(false);
    // The marker still names the directory it was written for, as the reconciler's probe checks.
    const probe = (await bash(probeScript({ configDir: '/configs', pluginName: NAME }))).result;
    expect(JSON.parse(Buffer.from(probe?.marker ?? '', 'base64').toString('utf8'))).toMatchObject({ dir: probe?.dirId, install: marker('1.0.0', 'a') });
  });

  it('puts back a replaced version that had no install marker without one', async () => {
    await install(V1, marker('1.0.0', 'a'));
    await rm(join(plugins, '.molecule', `${NAME}.json`));
    await install(V2, marker('2.0.0', 'b'));

    const run = await gate('exit 1');

    expect(run.result).toMatchObject({ ok: true, healthy: false, rolledBack: true });
    expect(await tree(join(plugins, NAME))).toEqual(V1);
    expect(existsSync(join(plugins, '.molecule', `${NAME}.json`))).toBe(false);
  });

  it('removes a first install that never passes as an uninstall does: its directory, marker blocks, its skills and marker, keeping a same-named skill it does not own', async () => {
    const files = { ...V1, 'plugin.yaml': `name: ${NAME}\nskills: [s1, s2]\n`, 'skills/s2/SKILL.md': '# s2\n' };
    await install(files, marker('1.0.0', 'a'));
    // What the runtime made of it at start-up: the plugin's copy of s1, a user's own s2, a rule in CLAUDE.md.
    await mkdir(join(configs, 'skills', 's1'), { recursive: true });
    await writeFile(join(configs, 'skills', 's1', 'SKILL.md'), files['skills/s1/SKILL.md']);
    await mkdir(join(configs, 'skills', 's2'), { recursive: true });
    await writeFile(join(configs, 'skills', 's2', 'SKILL.md'), '# s2, the user’s own\n');
    await writeFile(join(configs, 'CLAUDE.md'), `User notes.\n# Plugin: ${NAME} / rule: x.md\nAlways be kind (v1).\n`);
    await restart();

    const run = await gate('echo down >&2; false', { skills: [] });

    expect(run).toMatchObject({ status: 0, result: { ok: true, healthy: false, rolledBack: true } });
    expect(decoded(run.result)).toBe('down\n');
    expect(existsSync(join(plugins, NAME))).toBe(false);
    expect(existsSync(join(plugins, '.molecule', `${NAME}.json`))).toBe(false);
    expect(existsSync(join(configs, 'skills', 's1'))).toBe(false);
    expect(await readFile(join(configs, 'skills', 's2', 'SKILL.md'), 'utf8')).toBe('# s2, the user’s own\n');
    expect(await readFile(join(configs, 'CLAUDE.md'), 'utf8')).toBe('User notes.\n');
    expect(await restarts()).toHaveLength(2);
  });

  it('stops a check that hangs, even one that ignores SIGTERM, and gives an unhealthy verdict', async () => {
    await install(V1, marker('1.0.0', 'a'));
    const finished = join(root, 'finished');

    const run = await gate(`trap '' TERM; echo hanging; sleep 600; touch ${finished}`);

    expect(run).toMatchObject({ status: 0, result: { ok: true, healthy: false, rolledBack: true } });
    expect(decoded(run.result)).toBe('hanging\n');
    expect(existsSync(join(plugins, NAME))).toBe(false);
    expect(existsSync(finished)).toBe(false);
  });

  it('keeps only the last 20 lines and 4 KiB of the output', async () => {
    await install(V1, marker('1.0.0', 'a'));

    const lines = (await gate('for i in $(seq 1 50); do echo "line $i"; done', { timeoutSeconds: 30 })).result;
    const wide = (await gate('for i in 1 2 3; do head -c 3000 /dev/zero | tr "\\0" x; echo; done', { timeoutSeconds: 30 })).result;

    expect(decoded(lines).split('\n').slice(0, -1)).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i + 31}`));
    expect(Buffer.from(wide?.output ?? '', 'base64')).toHaveLength(4096);
  });

  it('reports rolledBack false when the replaced version cannot be put back, leaving the new one live, and still restarts', async () => {
    await install(V1, marker('1.0.0', 'a'));
    await install(V2, marker('2.0.0', 'b'));
    const bin = join(root, 'bin');
    await mkdir(bin, { recursive: true });
    // An mv that refuses to move anything out of .previous.
    await writeFile(join(bin, 'mv'), `#!/bin/sh\ncase "$*" in *.previous/*) exit 1;; esac\nexec /bin/mv "$@"\n`, { mode: 0o755 });

    const run = await gate('exit 1', { path: `${bin}:${process.env.PATH}` });

    expect(run).toMatchObject({ status: 0, result: { ok: true, healthy: false, rolledBack: false } });
    expect(await tree(join(plugins, NAME))).toEqual(V2);
    expect(await tree(join(plugins, '.previous', NAME))).toEqual(V1);
    expect(await restarts()).toHaveLength(1);
  });

  it('reports rolledBack false when the restart that follows fails', async () => {
    await install(V1, marker('1.0.0', 'a'));
    const script = healthScript({
      configDir: '/configs',
      plugins: [{ name: NAME }],
      workspaceId: WS,
      command: 'exit 1',
      timeoutSeconds: FAILING_TIMEOUT_SECONDS,
      restartCommand: 'exit 7',
      restartTimeoutSeconds: 30,
    });

    expect((await bash(script)).result).toMatchObject({ ok: true, healthy: false, rolledBack: false });
    expect(existsSync(join(plugins, NAME))).toBe(false);
  });

  it('puts back every plugin a repair delivered: a replaced one from .previous, a first install removed', async () => {
    await install(V1, marker('1.0.0', 'a'));
    await install(V2, marker('2.0.0', 'b'));
    const other = 'other-kit';
    const tarballUrl = tarballs.put(`/${other}.tar.gz`, await pluginTarball({ 'plugin.yaml': `name: ${other}\n`, 'rules/o.md': 'o\n' }));
    expect((await bash(installScript({ configDir: '/configs', pluginName: other, tarballUrl, ts: 'o1' }))).result).toMatchObject({ ok: true });
    const script = healthScript({
      configDir: '/configs',
      plugins: [{ name: NAME, skills: ['s1'] }, { name: other }],
      workspaceId: WS,
      command: 'exit 1',
      timeoutSeconds: FAILING_TIMEOUT_SECONDS,
      restartCommand: RESTART,
      restartTimeoutSeconds: 30,
    });

    expect((await bash(script)).result).toMatchObject({ ok: true, healthy: false, rolledBack: true });
    expect(await tree(join(plugins, NAME))).toEqual(V1);
    expect(existsSync(join(plugins, other))).toBe(false);
    expect(await restarts()).toHaveLength(1);
  });

  it('reports its own failure as step health', async () => {
    const bin = join(root, 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'mktemp'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });

    const run = await gate('true', { path: `${bin}:${process.env.PATH}` });

    expect(run.status).not.toBe(0);
    expect(run.result).toEqual({ ok: false, code: 'delivery_failed', step: 'health' });
  });
});

describe('install and uninstall keep the replaced version’s marker with it', () => {
  it('saves the replaced marker in .previous/.markers and removes it on uninstall', async () => {
    await install(V1, marker('1.0.0', 'a'));
    const v1Marker = await readFile(join(plugins, '.molecule', `${NAME}.json`), 'utf8');
    await install(V2, marker('2.0.0', 'b'));

    expect(await readFile(join(plugins, '.previous', '.markers', `${NAME}.json`), 'utf8')).toBe(v1Marker);

    expect((await bash(uninstallScript({ configDir: '/configs', pluginName: NAME }))).result).toMatchObject({ ok: true });
    expect(existsSync(join(plugins, '.previous', '.markers', `${NAME}.json`))).toBe(false);
  });

  it('saves none when the replaced version had none, dropping an older one', async () => {
    await install(V1, marker('1.0.0', 'a'));
    await install(V2, marker('2.0.0', 'b'));
    await rm(join(plugins, '.molecule', `${NAME}.json`));

    await install(V1, marker('1.0.0', 'a'));

    expect(existsSync(join(plugins, '.previous', '.markers', `${NAME}.json`))).toBe(false);
  });
});
