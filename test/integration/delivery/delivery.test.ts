import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EC2InstanceConnectClient, SendSSHPublicKeyCommand } from '@aws-sdk/client-ec2-instance-connect';
import { SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliverInstall, removePlugin, restartWorkspace, type DeliveryDeps } from '../../../lambdas/delivery/index.js';
import type { TransportTaken } from '../../../lambdas/shared/types.js';
import type { EicSettings } from '../../../lambdas/delivery/eic.js';
import { DeliveryFailed, PluginNotInstalled, WorkspaceUnreachable } from '../../../lambdas/shared/errors.js';
import type { Workspace } from '../../../lambdas/shared/types.js';
import { KEY_LIFETIME_MS, startEicEmulator, type EicEmulator } from '../../../local/eic-emulator.js';
import { LOCAL_RESTART_COMMAND, LocalInstances } from '../../../local/instances.js';
import { startSsmEmulator, type SsmEmulator } from '../../../local/ssm-emulator.js';
import { pluginTarball, TarballServer } from '../../support/plugin-tarballs.js';

/**
 * Delivery end to end below the workflow, once per transport, onto emulated instance roots with
 * the same host scripts: SSM Run Command through the SSM emulator, and EC2 Instance Connect with
 * the real EC2 and EIC clients against the EIC emulator and a real SSH connection (ssh2 on both
 * sides), directly and through the emulated EC2 Instance Connect Endpoint's tunnel. What only SSH
 * has (login, host keys, stdin) is tested after the shared suite; the tunnel's own faults and cap
 * in eic-endpoint.test.ts.
 */
const INSTANCES: Record<TransportTaken, string> = {
  ssm: 'i-0123456789abcdef0',
  'eic-direct': 'i-0e1c0000000000001',
  'eic-endpoint': 'i-0e1c0000000000002',
};
/** `auto` reaches an instance online in SSM over SSM; EIC is forced, as the emulator's instances are all online there. */
const WORKSPACE_TRANSPORT = { ssm: 'auto', 'eic-direct': 'eic', 'eic-endpoint': 'eic' } as const;
const RUNNING_AS_ROOT = process.getuid?.() === 0;
const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };

const V1 = {
  'plugin.yaml': 'name: acme.tools\nversion: 1.0.0\nskills:\n  - s1\n',
  'rules/x.md': 'Always be kind (v1).\n',
  'skills/s1/SKILL.md': '# s1\nSay hello (v1).\n',
};
const V2 = { ...V1, 'plugin.yaml': 'name: acme.tools\nversion: 2.0.0\nskills:\n  - s1\n', 'rules/x.md': 'Always be kind (v2).\n' };

let dir: string;
let instances: LocalInstances;
let eicEmulator: EicEmulator;
let ssmEmulator: SsmEmulator;
let tarballs: TarballServer;
let ec2: EC2Client;
let eic: EC2InstanceConnectClient;
let ssm: SSMClient;
let settings: EicSettings;
let deps: DeliveryDeps;
let clock = Date.now();

function withEic(overrides: {
  settings?: Partial<EicSettings>;
  eic?: EC2InstanceConnectClient;
  deliveryTimeoutMs?: number;
  restartCommand?: string;
}): DeliveryDeps {
  return {
    ...deps,
    config: {
      ...deps.config,
      ...(overrides.deliveryTimeoutMs && { deliveryTimeoutMs: overrides.deliveryTimeoutMs, healthCommandFor: () => 'true', healthTimeoutMs: 4_000 }),
      ...(overrides.restartCommand && { restartCommand: overrides.restartCommand }),
    },
    eic: { settings: { ...settings, ...overrides.settings }, clients: async () => ({ ec2, eic: overrides.eic ?? eic }) },
  };
}

/** Direct SSH to the emulator's SSH port, or through its endpoint's tunnel. */
function depsFor(transport: TransportTaken): DeliveryDeps {
  if (transport === 'eic-endpoint') return withEic({ settings: { connection: 'endpoint', tunnelUrl: eicEmulator.env.PLUGIN_EIC_TUNNEL_URL } });
  return deps;
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

/** One transport's instance, its workspace and its files. */
function onTransport(transport: TransportTaken) {
  const instanceId = INSTANCES[transport];
  const root = () => join(instances.rootDir, instanceId);
  const workspace = (overrides: Partial<Workspace> = {}): Workspace => ({
    id: 'ws-1',
    orgId: 'org-1',
    runtime: 'claude-code',
    instanceId,
    transport: WORKSPACE_TRANSPORT[transport],
    status: 'running',
    ...overrides,
  });
  const using = () => depsFor(transport);
  const install = async (name: string, files: Record<string, string>, ws = workspace(), through = using()) => {
    const url = tarballs.put(`/${name}-${Math.random().toString(36).slice(2)}.tar.gz`, await pluginTarball(files));
    return deliverInstall(through, { workspace: ws, pluginName: name, tarballUrl: url });
  };
  beforeEach(async () => {
    await rm(root(), { recursive: true, force: true });
    instances.start(instanceId);
  });
  return {
    instanceId,
    workspace,
    using,
    install,
    root,
    configs: () => join(root(), 'configs'),
    restartLog: () => join(root(), 'var', 'log', 'molecule-restarts.log'),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'molecule-delivery-'));
  instances = new LocalInstances(join(dir, 'instances'));
  eicEmulator = await startEicEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning, now: () => clock, credentials });
  ssmEmulator = await startSsmEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning });
  tarballs = new TarballServer();
  await tarballs.start();
  ec2 = new EC2Client({ endpoint: eicEmulator.ec2Url, region: 'us-east-1', credentials });
  eic = new EC2InstanceConnectClient({ endpoint: eicEmulator.eicUrl, region: 'us-east-1', credentials });
  ssm = new SSMClient({ endpoint: ssmEmulator.url, region: 'us-east-1', credentials });
  settings = {
    osUser: 'ubuntu',
    connection: 'direct',
    sshHost: eicEmulator.sshHost,
    sshPort: eicEmulator.sshPort,
    sshCommand: 'bash -s',
    hostKeyFingerprints: [eicEmulator.hostKeyFingerprint],
  };
  deps = {
    ssm,
    config: {
      configDirFor: () => '/configs',
      restartCommand: LOCAL_RESTART_COMMAND,
      deliveryTimeoutMs: 30_000,
      healthCommandFor: () => 'true',
      healthTimeoutMs: 4_000,
    },
    ssmPolling: { pollIntervalMs: 20, maxPollIntervalMs: 100 },
    eic: { settings, clients: async () => ({ ec2, eic }) },
  };
});

afterAll(async () => {
  for (const client of [ec2, eic, ssm]) client?.destroy();
  await eicEmulator?.close();
  await ssmEmulator?.close();
  await tarballs?.close();
  await rm(dir, { recursive: true, force: true });
});

describe.each(['ssm', 'eic-direct', 'eic-endpoint'] as const)('over %s', (transport) => {
  /** How ops learn where the command ran: the SSM command id, or the host SSH reached. */
  const reach = transport === 'ssm' ? { commandId: expect.stringMatching(/\S/) } : { sshHost: expect.stringMatching(/\S/) };
  const { workspace, install, configs, restartLog, root, using } = onTransport(transport);

  describe('install', () => {
    it('puts the plugin files under configs/plugins/<name>/ owned by the agent user', async () => {
      const outcome = await install('acme.tools', V1);

      expect(outcome).toEqual({ transport, ...reach, replacedPrevious: false, changedOnlySkillDocs: false });
      expect(await tree(join(configs(), 'plugins', 'acme.tools'))).toEqual(V1);
      if (RUNNING_AS_ROOT) {
        const info = await stat(join(configs(), 'plugins', 'acme.tools', 'rules', 'x.md'));
        expect([info.uid, info.gid]).toEqual([1000, 1000]);
      }
      expect(existsSync(join(configs(), 'plugins', '.staging'))).toBe(false);
    });

    it('replaces a live version atomically and keeps the old one in .previous', async () => {
      await install('acme.tools', V1);

      const outcome = await install('acme.tools', V2);

      expect(outcome).toMatchObject({ transport, replacedPrevious: true, changedOnlySkillDocs: false });
      expect(await tree(join(configs(), 'plugins', 'acme.tools'))).toEqual(V2);
      expect(await tree(join(configs(), 'plugins', '.previous', 'acme.tools'))).toEqual(V1);
      expect(existsSync(join(configs(), 'plugins', '.staging'))).toBe(false);
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

      const failed = deliverInstall(using(), { workspace: workspace(), pluginName: 'acme.tools', tarballUrl: `${tarballs.url}/missing.tar.gz` });

      await expect(failed).rejects.toThrow(DeliveryFailed);
      await expect(failed).rejects.toMatchObject({ code: 'delivery_failed', message: 'the workspace could not download the staged plugin' });
      expect(await tree(join(configs(), 'plugins', 'acme.tools'))).toEqual(V1);
      expect(existsSync(join(configs(), 'plugins', '.staging'))).toBe(false);
    });

    it('leaves the live version intact and no staging behind when the archive is corrupt', async () => {
      await install('acme.tools', V1);
      const url = tarballs.put('/corrupt.tar.gz', Buffer.from('this is not gzip at all'));

      const failed = deliverInstall(using(), { workspace: workspace(), pluginName: 'acme.tools', tarballUrl: url });

      await expect(failed).rejects.toMatchObject({ code: 'delivery_failed', message: 'the workspace could not unpack the plugin archive' });
      expect(await tree(join(configs(), 'plugins', 'acme.tools'))).toEqual(V1);
      expect(existsSync(join(configs(), 'plugins', '.staging'))).toBe(false);
    });

    it('never echoes host output or the presigned URL in the error message', async () => {
      const url = tarballs.put('/corrupt2.tar.gz', Buffer.from('garbage'));

      const err = (await deliverInstall(using(), { workspace: workspace(), pluginName: 'acme.tools', tarballUrl: url }).catch(
        (e: unknown) => e,
      )) as DeliveryFailed;

      expect(err.message).not.toMatch(/gzip|tar|Signature/i);
      expect(JSON.stringify(err.details)).not.toContain('not-a-secret');
    });
  });

  describe('uninstall', () => {
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
      await install('acme.tools', { ...V2, 'skills/from-caller/SKILL.md': '# from the caller\n' });
      await install('other', { 'plugin.yaml': 'name: other\nskills: [s2]\n', 'skills/s2/SKILL.md': '# s2\n' });
      // The plugin's own copies of its skills, as the runtime puts them in place.
      await mkdir(join(configs(), 'skills', 's1'), { recursive: true });
      await writeFile(join(configs(), 'skills', 's1', 'SKILL.md'), V2['skills/s1/SKILL.md']);
      await mkdir(join(configs(), 'skills', 'from-caller'), { recursive: true });
      await writeFile(join(configs(), 'skills', 'from-caller', 'SKILL.md'), '# from the caller\n');
      await mkdir(join(configs(), 'skills', 's2'), { recursive: true });
      await writeFile(join(configs(), 'CLAUDE.md'), CLAUDE_MD);
      const agentsMd = '# Plugin: acme.tools / rule: x.md\nAlways be kind.\n# Plugin: other / rule: y.md\nOther.\n';
      await writeFile(join(configs(), 'AGENTS.md'), agentsMd);

      const outcome = await removePlugin(using(), { workspace: workspace(), pluginName: 'acme.tools', skills: ['from-caller'] });

      expect(outcome).toEqual({ transport, ...reach, removedSkills: 2, warnings: [] });
      expect(await readFile(join(configs(), 'CLAUDE.md'), 'utf8')).toBe(CLAUDE_MD_AFTER);
      expect(await readFile(join(configs(), 'AGENTS.md'), 'utf8')).toBe('# Plugin: other / rule: y.md\nOther.\n');
      expect(existsSync(join(configs(), 'skills', 's1'))).toBe(false);
      expect(existsSync(join(configs(), 'skills', 'from-caller'))).toBe(false);
      expect(existsSync(join(configs(), 'skills', 's2'))).toBe(true);
      expect(existsSync(join(configs(), 'plugins', 'acme.tools'))).toBe(false);
      expect(existsSync(join(configs(), 'plugins', '.previous', 'acme.tools'))).toBe(false);
      expect(existsSync(join(configs(), 'plugins', 'other'))).toBe(true);
    });

    it('strips the marker blocks and removes the plugin and .previous when none of its skills is there', async () => {
      await install('acme.tools', V1);
      await install('acme.tools', V2);
      await writeFile(join(configs(), 'CLAUDE.md'), '# Notes\n# Plugin: acme.tools / rule: x.md\nAlways be kind.\n# Plugin: other / rule: y.md\nOther.\n');

      const outcome = await removePlugin(using(), { workspace: workspace(), pluginName: 'acme.tools' });

      expect(outcome).toEqual({ transport, ...reach, removedSkills: 0, warnings: [] });
      expect(await readFile(join(configs(), 'CLAUDE.md'), 'utf8')).toBe('# Notes\n# Plugin: other / rule: y.md\nOther.\n');
      expect(existsSync(join(configs(), 'plugins', 'acme.tools'))).toBe(false);
      expect(existsSync(join(configs(), 'plugins', '.previous', 'acme.tools'))).toBe(false);
    });

    it('keeps a same-named skill dir the plugin does not own, byte for byte, and warns about it', async () => {
      await install('acme.tools', { 'plugin.yaml': 'name: acme.tools\nskills: [user-private-skill]\n' });
      const privateSkill = join(configs(), 'skills', 'user-private-skill');
      await mkdir(privateSkill, { recursive: true });
      await writeFile(join(privateSkill, 'SKILL.md'), "# mine, not the plugin's\n");

      const outcome = await removePlugin(using(), { workspace: workspace(), pluginName: 'acme.tools' });

      expect(outcome).toEqual({
        transport,
        ...reach,
        removedSkills: 0,
        warnings: ['kept skills/user-private-skill: it is not the copy acme.tools installed'],
      });
      expect(await tree(privateSkill)).toEqual({ 'SKILL.md': "# mine, not the plugin's\n" });
      expect(existsSync(join(configs(), 'plugins', 'acme.tools'))).toBe(false);
    });

    it('leaves memory files without blocks of the plugin untouched', async () => {
      await install('acme.tools', V1);
      const untouched = '# Plugin: other / rule: y.md\nOther.';
      await writeFile(join(configs(), 'CLAUDE.md'), untouched);

      await removePlugin(using(), { workspace: workspace(), pluginName: 'acme.tools' });

      expect(await readFile(join(configs(), 'CLAUDE.md'), 'utf8')).toBe(untouched);
    });

    it('answers plugin_not_installed for a plugin that is not there', async () => {
      const removed = removePlugin(using(), { workspace: workspace(), pluginName: 'acme.tools' });

      await expect(removed).rejects.toThrow(PluginNotInstalled);
      await expect(removed).rejects.toMatchObject({ code: 'plugin_not_installed' });
    });
  });

  describe('restart', () => {
    it('runs the configured command, which appends a line naming the workspace', async () => {
      await expect(restartWorkspace(using(), { workspace: workspace({ id: 'ws-42' }) })).resolves.toEqual({ transport, ...reach });

      expect(await readFile(restartLog(), 'utf8')).toMatch(/restart ws-42\n$/);
    });

    it('passes a hostile workspace id to the command as one literal word', async () => {
      const id = `ws'; touch "$MOLECULE_HOST_ROOT/pwned"; echo '$(id)`;

      await restartWorkspace(using(), { workspace: workspace({ id }) });

      expect(await readFile(restartLog(), 'utf8')).toContain(`restart ${id}`);
      expect(existsSync(join(root(), 'pwned'))).toBe(false);
    });

    it('fails as delivery_failed when the restart command fails', async () => {
      const failing = { ...using(), config: { ...deps.config, restartCommand: 'false {workspaceId}' } };

      await expect(restartWorkspace(failing, { workspace: workspace() })).rejects.toMatchObject({
        code: 'delivery_failed',
        message: 'the workspace restart command failed',
      });
    });
  });
});

describe('over ssm only', () => {
  const { workspace, install, configs } = onTransport('ssm');

  // With `auto` a stopped instance falls back to EC2 Instance Connect: see 'over eic only'.
  it('is workspace_unreachable for a stopped instance of a workspace forced onto SSM', async () => {
    instances.stop(INSTANCES.ssm);

    await expect(install('acme.tools', V1, workspace({ transport: 'ssm' }))).rejects.toThrow(WorkspaceUnreachable);
    expect(existsSync(join(configs(), 'plugins'))).toBe(false);
  });
});

describe('over eic only', () => {
  const { workspace, install, configs, restartLog, root } = onTransport('eic-direct');

  describe('the script on stdin', () => {
    it('feeds the script on stdin without letting a command that reads stdin swallow the rest of it', async () => {
      const reading = withEic({ restartCommand: `cat > "$MOLECULE_HOST_ROOT/stdin-seen"; ${LOCAL_RESTART_COMMAND}` });

      await restartWorkspace(reading, { workspace: workspace() });

      expect(await readFile(join(root(), 'stdin-seen'), 'utf8')).toBe('');
      expect(await readFile(restartLog(), 'utf8')).toContain('restart ws-1');
    });

    it('stops a command that hangs past the delivery timeout and fails as delivery_failed', async () => {
      const hanging = withEic({ deliveryTimeoutMs: 1_000, restartCommand: 'sleep 60; touch "$MOLECULE_HOST_ROOT/finished" # {workspaceId}' });

      await expect(restartWorkspace(hanging, { workspace: workspace() })).rejects.toMatchObject({
        code: 'delivery_failed',
        message: expect.stringMatching(/timed out/),
      });
      expect(existsSync(join(root(), 'finished'))).toBe(false);
    });
  });

  describe('reaching the instance', () => {
    it('reports a stopped instance as workspace_unreachable, whether EIC is forced or chosen', async () => {
      instances.stop(INSTANCES['eic-direct']);

      for (const transport of ['eic', 'auto'] as const) {
        await expect(install('acme.tools', V1, workspace({ transport }))).rejects.toMatchObject({
          code: 'workspace_unreachable',
          message: 'the workspace instance is not running (it is stopped)',
        });
      }
      expect(existsSync(join(configs(), 'plugins'))).toBe(false);
    });

    it('goes over SSM when the instance is online there, unless the workspace forces EIC', async () => {
      expect((await install('acme.tools', V1, workspace({ transport: 'auto' }))).transport).toBe('ssm');
      expect((await install('acme.tools', V1, workspace({ transport: 'eic' }))).transport).toBe('eic-direct');
    });

    it('is refused at login when the key never reached the instance', async () => {
      const lostKeys = new EC2InstanceConnectClient({ region: 'us-east-1', credentials });
      mockClient(lostKeys).on(SendSSHPublicKeyCommand).resolves({ Success: true, RequestId: 'r-1' });

      await expect(install('acme.tools', V1, workspace(), withEic({ eic: lostKeys }))).rejects.toMatchObject({
        code: 'workspace_unreachable',
        message: 'the workspace instance refused the EC2 Instance Connect key',
      });
      expect(existsSync(join(configs(), 'plugins'))).toBe(false);
    });

    it('is refused at login when more than 60 s pass between pushing the key and logging in', async () => {
      const slowEic = new EC2InstanceConnectClient({ endpoint: eicEmulator.eicUrl, region: 'us-east-1', credentials });
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
      expect(existsSync(join(configs(), 'plugins'))).toBe(false);
    });

    it('reports nothing listening on the SSH port as workspace_unreachable', async () => {
      const closedPort = withEic({ settings: { sshPort: 1 } });

      await expect(install('acme.tools', V1, workspace(), closedPort)).rejects.toMatchObject({
        code: 'workspace_unreachable',
        message: 'could not connect to the workspace instance over SSH',
      });
    });
  });
});
