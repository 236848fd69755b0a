import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EC2InstanceConnectClient, SendSSHPublicKeyCommand } from '@aws-sdk/client-ec2-instance-connect';
import { SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliverInstall, removePlugin, restartWorkspace, type DeliveryDeps } from '../../../lambdas/delivery/index.js';
import type { EicSettings } from '../../../lambdas/delivery/eic.js';
import type { Workspace } from '../../../lambdas/shared/types.js';
import { KEY_LIFETIME_MS, startEicEmulator, type EicEmulator } from '../../../local/eic-emulator.js';
import { LOCAL_RESTART_COMMAND, LocalInstances } from '../../../local/instances.js';
import { startSsmEmulator, type SsmEmulator } from '../../../local/ssm-emulator.js';
import { pluginTarball, TarballServer } from './plugin-tarballs.js';

/**
 * Delivery over EC2 Instance Connect end to end below the workflow: the real EC2 and EIC clients
 * against the emulator, a real SSH connection (ssh2 on both sides) and the same host scripts
 * as over SSM, onto emulated instance roots.
 */
const INSTANCE = 'i-0e1c0000000000001';
const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };

const V1 = {
  'plugin.yaml': 'name: acme.tools\nversion: 1.0.0\nskills:\n  - s1\n',
  'rules/x.md': 'Always be kind (v1).\n',
  'skills/s1/SKILL.md': '# s1\nSay hello (v1).\n',
};
const V2 = { ...V1, 'plugin.yaml': 'name: acme.tools\nversion: 2.0.0\nskills:\n  - s1\n', 'rules/x.md': 'Always be kind (v2).\n' };

let dir: string;
let instances: LocalInstances;
let emulator: EicEmulator;
let ssmEmulator: SsmEmulator;
let tarballs: TarballServer;
let ec2: EC2Client;
let eic: EC2InstanceConnectClient;
let ssm: SSMClient;
let settings: EicSettings;
let deps: DeliveryDeps;
let configs: string;
let clock = Date.now();

function workspace(overrides: Partial<Workspace> = {}): Workspace {
  return { id: 'ws-1', orgId: 'org-1', runtime: 'claude-code', instanceId: INSTANCE, transport: 'eic', status: 'running', ...overrides };
}

function withEic(overrides: { settings?: Partial<EicSettings>; eic?: EC2InstanceConnectClient; deliveryTimeoutMs?: number; restartCommand?: string }): DeliveryDeps {
  return {
    ...deps,
    config: {
      ...deps.config,
      ...(overrides.deliveryTimeoutMs && { deliveryTimeoutMs: overrides.deliveryTimeoutMs }),
      ...(overrides.restartCommand && { restartCommand: overrides.restartCommand }),
    },
    eic: { settings: { ...settings, ...overrides.settings }, clients: async () => ({ ec2, eic: overrides.eic ?? eic }) },
  };
}

async function install(name: string, files: Record<string, string>, ws = workspace(), using = deps) {
  const url = tarballs.put(`/${name}-${Math.random().toString(36).slice(2)}.tar.gz`, await pluginTarball(files));
  return deliverInstall(using, { workspace: ws, pluginName: name, tarballUrl: url });
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

const restartLog = () => join(instances.rootDir, INSTANCE, 'var', 'log', 'molecule-restarts.log');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'molecule-eic-delivery-'));
  instances = new LocalInstances(join(dir, 'instances'));
  emulator = await startEicEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning, now: () => clock });
  ssmEmulator = await startSsmEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning });
  tarballs = new TarballServer();
  await tarballs.start();
  ec2 = new EC2Client({ endpoint: emulator.ec2Url, region: 'us-east-1', credentials });
  eic = new EC2InstanceConnectClient({ endpoint: emulator.eicUrl, region: 'us-east-1', credentials });
  ssm = new SSMClient({ endpoint: ssmEmulator.url, region: 'us-east-1', credentials });
  settings = {
    osUser: 'ubuntu',
    sshHost: emulator.sshHost,
    sshPort: emulator.sshPort,
    sshCommand: 'bash -s',
    hostKeyFingerprints: [emulator.hostKeyFingerprint],
  };
  deps = {
    ssm,
    config: { configDirFor: () => '/configs', restartCommand: LOCAL_RESTART_COMMAND, deliveryTimeoutMs: 30_000 },
    ssmPolling: { pollIntervalMs: 20, maxPollIntervalMs: 100 },
    eic: { settings, clients: async () => ({ ec2, eic }) },
  };
  configs = join(instances.rootDir, INSTANCE, 'configs');
});

afterAll(async () => {
  for (const client of [ec2, eic, ssm]) client?.destroy();
  await emulator?.close();
  await ssmEmulator?.close();
  await tarballs?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await rm(join(instances.rootDir, INSTANCE), { recursive: true, force: true });
  instances.start(INSTANCE);
});

describe('install over EC2 Instance Connect', () => {
  it('puts the plugin files under configs/plugins/<name>/', async () => {
    const outcome = await install('acme.tools', V1);

    expect(outcome).toEqual({ transport: 'eic', replacedPrevious: false, changedOnlySkillDocs: false });
    expect(await tree(join(configs, 'plugins', 'acme.tools'))).toEqual(V1);
    expect(existsSync(join(configs, 'plugins', '.staging'))).toBe(false);
  });

  it('replaces a live version atomically and keeps the old one in .previous', async () => {
    await install('acme.tools', V1);

    const outcome = await install('acme.tools', V2);

    expect(outcome).toMatchObject({ transport: 'eic', replacedPrevious: true, changedOnlySkillDocs: false });
    expect(await tree(join(configs, 'plugins', 'acme.tools'))).toEqual(V2);
    expect(await tree(join(configs, 'plugins', '.previous', 'acme.tools'))).toEqual(V1);
  });

  it('leaves the live version in place when the host script fails', async () => {
    await install('acme.tools', V1);

    const failed = deliverInstall(deps, { workspace: workspace(), pluginName: 'acme.tools', tarballUrl: `${tarballs.url}/missing.tar.gz` });

    await expect(failed).rejects.toMatchObject({ code: 'delivery_failed', message: 'the workspace could not download the staged plugin' });
    expect(await tree(join(configs, 'plugins', 'acme.tools'))).toEqual(V1);
    expect(existsSync(join(configs, 'plugins', '.staging'))).toBe(false);
  });
});

describe('uninstall over EC2 Instance Connect', () => {
  it('strips the marker blocks and removes the plugin, its skills and .previous', async () => {
    await install('acme.tools', V1);
    await install('acme.tools', V2);
    await writeFile(join(configs, 'CLAUDE.md'), '# Notes\n# Plugin: acme.tools / rule: x.md\nAlways be kind.\n# Plugin: other / rule: y.md\nOther.\n');

    const outcome = await removePlugin(deps, { workspace: workspace(), pluginName: 'acme.tools' });

    expect(outcome).toEqual({ transport: 'eic', removedSkills: 0 });
    expect(await readFile(join(configs, 'CLAUDE.md'), 'utf8')).toBe('# Notes\n# Plugin: other / rule: y.md\nOther.\n');
    expect(existsSync(join(configs, 'plugins', 'acme.tools'))).toBe(false);
    expect(existsSync(join(configs, 'plugins', '.previous', 'acme.tools'))).toBe(false);
  });

  it('answers plugin_not_installed for a plugin that is not there', async () => {
    await expect(removePlugin(deps, { workspace: workspace(), pluginName: 'acme.tools' })).rejects.toMatchObject({ code: 'plugin_not_installed' });
  });
});

describe('restart over EC2 Instance Connect', () => {
  it('runs the configured command, which appends a line naming the workspace', async () => {
    await expect(restartWorkspace(deps, { workspace: workspace({ id: 'ws-42' }) })).resolves.toEqual({ transport: 'eic' });

    expect(await readFile(restartLog(), 'utf8')).toMatch(/restart ws-ws-42\n$/);
  });

  it('feeds the script on stdin without letting a command that reads stdin swallow the rest of it', async () => {
    const reading = withEic({ restartCommand: `cat > "$MOLECULE_HOST_ROOT/stdin-seen"; ${LOCAL_RESTART_COMMAND}` });

    await restartWorkspace(reading, { workspace: workspace() });

    expect(await readFile(join(instances.rootDir, INSTANCE, 'stdin-seen'), 'utf8')).toBe('');
    expect(await readFile(restartLog(), 'utf8')).toContain('restart ws-ws-1');
  });

  it('stops a command that hangs past the delivery timeout and fails as delivery_failed', async () => {
    const hanging = withEic({ deliveryTimeoutMs: 1_000, restartCommand: 'sleep 60; touch "$MOLECULE_HOST_ROOT/finished" # {workspaceId}' });

    await expect(restartWorkspace(hanging, { workspace: workspace() })).rejects.toMatchObject({
      code: 'delivery_failed',
      message: expect.stringMatching(/timed out/),
    });
    expect(existsSync(join(instances.rootDir, INSTANCE, 'finished'))).toBe(false);
  });
});

describe('reaching the instance', () => {
  it('reports a stopped instance as workspace_unreachable, whether EIC is forced or chosen', async () => {
    instances.stop(INSTANCE);

    for (const transport of ['eic', 'auto'] as const) {
      await expect(install('acme.tools', V1, workspace({ transport }))).rejects.toMatchObject({
        code: 'workspace_unreachable',
        message: 'the workspace instance is not running (it is stopped)',
      });
    }
    expect(existsSync(join(configs, 'plugins'))).toBe(false);
  });

  it('goes over SSM when the instance is online there, unless the workspace forces EIC', async () => {
    expect((await install('acme.tools', V1, workspace({ transport: 'auto' }))).transport).toBe('ssm');
    expect((await install('acme.tools', V1, workspace({ transport: 'eic' }))).transport).toBe('eic');
  });

  it('is refused at login when the key never reached the instance', async () => {
    const lostKeys = new EC2InstanceConnectClient({ region: 'us-east-1', credentials });
    mockClient(lostKeys).on(SendSSHPublicKeyCommand).resolves({ Success: true, RequestId: 'r-1' });

    await expect(install('acme.tools', V1, workspace(), withEic({ eic: lostKeys }))).rejects.toMatchObject({
      code: 'workspace_unreachable',
      message: 'the workspace instance refused the EC2 Instance Connect key',
    });
    expect(existsSync(join(configs, 'plugins'))).toBe(false);
  });

  it('is refused at login when more than 60 s pass between pushing the key and logging in', async () => {
    const slowEic = new EC2InstanceConnectClient({ endpoint: emulator.eicUrl, region: 'us-east-1', credentials });
    const send = slowEic.send.bind(slowEic);
    slowEic.send = (async (...args: Parameters<typeof send>) => {
      const out = await send(...args);
      clock += KEY_LIFETIME_MS + 1_000;
      return out;
    }) as typeof slowEic.send;

    await expect(install('acme.tools', V1, workspace(), withEic({ eic: slowEic }))).rejects.toMatchObject({ code: 'workspace_unreachable' });
    slowEic.destroy();
  });

  it('refuses a host whose key is not one of the configured fingerprints', async () => {
    const pinned = withEic({ settings: { hostKeyFingerprints: [`SHA256:${'A'.repeat(43)}`] } });

    await expect(install('acme.tools', V1, workspace(), pinned)).rejects.toMatchObject({
      code: 'delivery_failed',
      message: 'the workspace instance presented a host key that is not one of the configured fingerprints',
    });
    expect(existsSync(join(configs, 'plugins'))).toBe(false);
  });

  it('reports nothing listening on the SSH port as workspace_unreachable', async () => {
    const closedPort = withEic({ settings: { sshPort: 1 } });

    await expect(install('acme.tools', V1, workspace(), closedPort)).rejects.toMatchObject({
      code: 'workspace_unreachable',
      message: 'could not connect to the workspace instance over SSH',
    });
  });
});
