import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DeliveryFailed, PluginNotInstalled, WorkspaceUnreachable } from '../../../lambdas/shared/errors.js';
import type { Workspace } from '../../../lambdas/shared/types.js';
import { deliverInstall, removePlugin, restartWorkspace, type DeliveryDeps } from '../../../lambdas/delivery/index.js';
import { LOCAL_RESTART_COMMAND, LocalInstances } from '../../../local/instances.js';
import { startSsmEmulator, type SsmEmulator } from '../../../local/ssm-emulator.js';
import { pluginTarball, TarballServer } from './plugin-tarballs.js';

const INSTANCE = 'i-0123456789abcdef0';
const RUNNING_AS_ROOT = process.getuid?.() === 0;

const V1 = {
  'plugin.yaml': 'name: acme.tools\nversion: 1.0.0\nskills:\n  - s1\n',
  'rules/x.md': 'Always be kind (v1).\n',
  'skills/s1/SKILL.md': '# s1\nSay hello (v1).\n',
};
const V2 = { ...V1, 'plugin.yaml': 'name: acme.tools\nversion: 2.0.0\nskills:\n  - s1\n', 'rules/x.md': 'Always be kind (v2).\n' };

let dir: string;
let instances: LocalInstances;
let emulator: SsmEmulator;
let tarballs: TarballServer;
let ssm: SSMClient;
let deps: DeliveryDeps;
let configs: string;

function workspace(overrides: Partial<Workspace> = {}): Workspace {
  return { id: 'ws-1', orgId: 'org-1', runtime: 'claude-code', instanceId: INSTANCE, transport: 'auto', status: 'running', ...overrides };
}

async function install(name: string, files: Record<string, string>, ws = workspace()) {
  const url = tarballs.put(`/${name}-${Math.random().toString(36).slice(2)}.tar.gz`, await pluginTarball(files));
  return deliverInstall(deps, { workspace: ws, pluginName: name, tarballUrl: url });
}

async function tree(root: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) Object.assign(out, await tree(root, rel));
    else out[rel] = await readFile(join(root, rel), 'utf8');
  }
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'molecule-delivery-'));
  instances = new LocalInstances(join(dir, 'instances'));
  emulator = await startSsmEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning });
  tarballs = new TarballServer();
  await tarballs.start();
  ssm = new SSMClient({ endpoint: emulator.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  deps = {
    ssm,
    config: { configDirFor: () => '/configs', restartCommand: LOCAL_RESTART_COMMAND, deliveryTimeoutMs: 30_000 },
    ssmPolling: { pollIntervalMs: 20, maxPollIntervalMs: 100 },
  };
  configs = join(instances.rootDir, INSTANCE, 'configs');
});

afterAll(async () => {
  ssm?.destroy();
  await emulator?.close();
  await tarballs?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await rm(join(instances.rootDir, INSTANCE), { recursive: true, force: true });
  instances.start(INSTANCE);
});

describe('install over SSM', () => {
  it('puts the plugin files under configs/plugins/<name>/ owned by the agent user', async () => {
    const outcome = await install('acme.tools', V1);

    expect(outcome).toEqual({ transport: 'ssm', replacedPrevious: false, changedOnlySkillDocs: false });
    expect(await tree(join(configs, 'plugins', 'acme.tools'))).toEqual(V1);
    if (RUNNING_AS_ROOT) {
      const info = await stat(join(configs, 'plugins', 'acme.tools', 'rules', 'x.md'));
      expect([info.uid, info.gid]).toEqual([1000, 1000]);
    }
    expect(existsSync(join(configs, 'plugins', '.staging'))).toBe(false);
  });

  it('replaces a live version atomically and keeps the old one in .previous', async () => {
    await install('acme.tools', V1);

    const outcome = await install('acme.tools', V2);

    expect(outcome).toMatchObject({ replacedPrevious: true, changedOnlySkillDocs: false });
    expect(await tree(join(configs, 'plugins', 'acme.tools'))).toEqual(V2);
    expect(await tree(join(configs, 'plugins', '.previous', 'acme.tools'))).toEqual(V1);
    expect(existsSync(join(configs, 'plugins', '.staging'))).toBe(false);
  });

  it('reports a change that touches only SKILL.md files, so the restart can be skipped', async () => {
    await install('acme.tools', V1);

    const outcome = await install('acme.tools', { ...V1, 'skills/s1/SKILL.md': '# s1\nSay hello, improved.\n' });

    expect(outcome.changedOnlySkillDocs).toBe(true);
  });

  it('restarts for a skill added or removed, another file changed, or a file merely named like SKILL.md', async () => {
    await install('acme.tools', V1);
    expect((await install('acme.tools', { ...V1, 'skills/s2/SKILL.md': '# s2\n' })).changedOnlySkillDocs).toBe(false);
    expect((await install('acme.tools', V1)).changedOnlySkillDocs).toBe(false);
    expect((await install('acme.tools', { ...V1, 'rules/new.md': 'x\n' })).changedOnlySkillDocs).toBe(false);
    expect((await install('acme.tools', { ...V1, 'rules/new.md': 'x\n', 'skills/s1/SKILL.md.bak': 'b\n' })).changedOnlySkillDocs).toBe(false);
  });

  it('leaves the live version intact and no staging behind when the download fails', async () => {
    await install('acme.tools', V1);

    const failed = deliverInstall(deps, { workspace: workspace(), pluginName: 'acme.tools', tarballUrl: `${tarballs.url}/missing.tar.gz` });

    await expect(failed).rejects.toThrow(DeliveryFailed);
    await expect(failed).rejects.toThrow('the workspace could not download the staged plugin');
    expect(await tree(join(configs, 'plugins', 'acme.tools'))).toEqual(V1);
    expect(existsSync(join(configs, 'plugins', '.staging'))).toBe(false);
  });

  it('leaves the live version intact and no staging behind when the archive is corrupt', async () => {
    await install('acme.tools', V1);
    const url = tarballs.put('/corrupt.tar.gz', Buffer.from('this is not gzip at all'));

    const failed = deliverInstall(deps, { workspace: workspace(), pluginName: 'acme.tools', tarballUrl: url });

    await expect(failed).rejects.toMatchObject({ code: 'delivery_failed', message: 'the workspace could not unpack the plugin archive' });
    expect(await tree(join(configs, 'plugins', 'acme.tools'))).toEqual(V1);
    expect(existsSync(join(configs, 'plugins', '.staging'))).toBe(false);
  });

  it('never echoes host output or the presigned URL in the error message', async () => {
    const url = tarballs.put('/corrupt2.tar.gz', Buffer.from('garbage'));

    const err = (await deliverInstall(deps, { workspace: workspace(), pluginName: 'acme.tools', tarballUrl: url }).catch((e: unknown) => e)) as DeliveryFailed;

    expect(err.message).not.toMatch(/gzip|tar|Signature/i);
    expect(JSON.stringify(err.details)).not.toContain('not-a-secret');
  });
});

describe('uninstall over SSM', () => {
  const CLAUDE_MD = [
    '# Project memory',
    '',
    'User notes stay.',
    '',
    '# Plugin: acme.tools / rule: x.md',
    '',
    'Always be kind (v1).',
    '',
    '',
    '# Plugin: other / rule: y.md',
    'Other rule, with a blank line inside.',
    '',
    'Still the other rule.',
    '# Plugin: acme.tools / fragment: extra',
    'A fragment of acme.tools.',
    '# Plugin: acmextools / rule: z.md',
    'A plugin whose name only matches acme.tools as a regex.',
    '',
    '',
    'Trailing user text.',
    '',
  ].join('\n');
  const CLAUDE_MD_AFTER = [
    '# Project memory',
    '',
    'User notes stay.',
    '',
    '# Plugin: other / rule: y.md',
    'Other rule, with a blank line inside.',
    '',
    'Still the other rule.',
    '# Plugin: acmextools / rule: z.md',
    'A plugin whose name only matches acme.tools as a regex.',
    '',
    '',
    'Trailing user text.',
    '',
  ].join('\n');

  it("strips only this plugin's marker blocks, removes its skills, its directory and .previous", async () => {
    await install('acme.tools', V1);
    await install('acme.tools', V2);
    await install('other', { 'plugin.yaml': 'name: other\nskills: [s2]\n', 'skills/s2/SKILL.md': '# s2\n' });
    await mkdir(join(configs, 'skills', 's1'), { recursive: true });
    await writeFile(join(configs, 'skills', 's1', 'SKILL.md'), '# s1\n');
    await mkdir(join(configs, 'skills', 'from-caller'), { recursive: true });
    await mkdir(join(configs, 'skills', 's2'), { recursive: true });
    await writeFile(join(configs, 'CLAUDE.md'), CLAUDE_MD);
    const agentsMd = '# Plugin: acme.tools / rule: x.md\nAlways be kind.\n# Plugin: other / rule: y.md\nOther.\n';
    await writeFile(join(configs, 'AGENTS.md'), agentsMd);

    const outcome = await removePlugin(deps, { workspace: workspace(), pluginName: 'acme.tools', skills: ['from-caller'] });

    expect(outcome).toEqual({ transport: 'ssm', removedSkills: 2 });
    expect(await readFile(join(configs, 'CLAUDE.md'), 'utf8')).toBe(CLAUDE_MD_AFTER);
    expect(await readFile(join(configs, 'AGENTS.md'), 'utf8')).toBe('# Plugin: other / rule: y.md\nOther.\n');
    expect(existsSync(join(configs, 'skills', 's1'))).toBe(false);
    expect(existsSync(join(configs, 'skills', 'from-caller'))).toBe(false);
    expect(existsSync(join(configs, 'skills', 's2'))).toBe(true);
    expect(existsSync(join(configs, 'plugins', 'acme.tools'))).toBe(false);
    expect(existsSync(join(configs, 'plugins', '.previous', 'acme.tools'))).toBe(false);
    expect(existsSync(join(configs, 'plugins', 'other'))).toBe(true);
  });

  it('leaves memory files without blocks of the plugin untouched', async () => {
    await install('acme.tools', V1);
    const untouched = '# Plugin: other / rule: y.md\nOther.';
    await writeFile(join(configs, 'CLAUDE.md'), untouched);

    await removePlugin(deps, { workspace: workspace(), pluginName: 'acme.tools' });

    expect(await readFile(join(configs, 'CLAUDE.md'), 'utf8')).toBe(untouched);
  });

  it('answers plugin_not_installed for a plugin that is not there', async () => {
    await expect(removePlugin(deps, { workspace: workspace(), pluginName: 'acme.tools' })).rejects.toThrow(PluginNotInstalled);
  });
});

describe('restart over SSM', () => {
  it('runs the configured command, which appends a line naming the workspace', async () => {
    await restartWorkspace(deps, { workspace: workspace({ id: 'ws-42' }) });

    const log = await readFile(join(instances.rootDir, INSTANCE, 'var', 'log', 'molecule-restarts.log'), 'utf8');
    expect(log).toMatch(/restart ws-ws-42\n$/);
  });

  it('passes a hostile workspace id to the command as one literal word', async () => {
    const id = `ws'; touch "$MOLECULE_HOST_ROOT/pwned"; echo '$(id)`;

    await restartWorkspace(deps, { workspace: workspace({ id }) });

    const log = await readFile(join(instances.rootDir, INSTANCE, 'var', 'log', 'molecule-restarts.log'), 'utf8');
    expect(log).toContain(`restart ws-${id}`);
    expect(existsSync(join(instances.rootDir, INSTANCE, 'pwned'))).toBe(false);
  });

  it('fails as delivery_failed when the restart command fails', async () => {
    const failing = { ...deps, config: { ...deps.config, restartCommand: 'false {workspaceId}' } };

    await expect(restartWorkspace(failing, { workspace: workspace() })).rejects.toMatchObject({
      code: 'delivery_failed',
      message: 'the workspace restart command failed',
    });
  });
});

describe('a stopped instance', () => {
  // With `auto` a stopped instance falls back to EC2 Instance Connect: see eic-delivery.test.ts.
  it('is workspace_unreachable for a workspace forced onto SSM', async () => {
    instances.stop(INSTANCE);

    await expect(install('acme.tools', V1, workspace({ transport: 'ssm' }))).rejects.toThrow(WorkspaceUnreachable);
    expect(existsSync(join(configs, 'plugins'))).toBe(false);
  });
});
