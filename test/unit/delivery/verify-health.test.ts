import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliverInstall, restartWorkspace, verifyHealth, type DeliveryDeps } from '../../../lambdas/delivery/index.js';
import type { Workspace } from '../../../lambdas/shared/types.js';
import { LOCAL_HEALTH_COMMAND, LOCAL_RESTART_COMMAND, LocalInstances } from '../../../local/instances.js';
import { startSsmEmulator, type SsmEmulator } from '../../../local/ssm-emulator.js';
import { pluginTarball, TarballServer } from '../../support/plugin-tarballs.js';

/**
 * verifyHealth as the VerifyHealth step calls it, over SSM Run Command through the local SSM
 * emulator onto an emulated instance, with the local stack's restart and health commands: the
 * emulated agent fails to start on a plugin whose `.mcp.json` is not valid JSON (SPEC §9).
 */

// Unit files share a worker, and the files that mock SSMClient leave its prototype stubbed: this
// one talks to the emulator, so it puts the real client back.
mockClient(SSMClient).restore();

const INSTANCE = 'i-0123456789abcdef0';
const NAME = 'acme.tools';
const workspace: Workspace = { id: 'ws-1', orgId: 'org-1', runtime: 'claude-code', instanceId: INSTANCE, transport: 'auto', status: 'running' };
const V1 = { 'plugin.yaml': `name: ${NAME}\nversion: 1.0.0\n`, '.mcp.json': '{"mcpServers": {}}\n', 'rules/x.md': 'v1\n' };
const V2 = { ...V1, 'plugin.yaml': `name: ${NAME}\nversion: 2.0.0\n`, '.mcp.json': '{"mcpServers": {,}}\n', 'rules/x.md': 'v2\n' };

let dir: string;
let instances: LocalInstances;
let emulator: SsmEmulator;
let tarballs: TarballServer;
let ssm: SSMClient;
let deps: DeliveryDeps;

const root = () => instances.rootOf(INSTANCE);
const agentState = () => readFile(join(root(), 'var', 'run', 'molecule-agent.health'), 'utf8');

/** Delivers and restarts, as Deliver and Restart do before the gate. */
async function installAndRestart(files: Record<string, string>) {
  const tarballUrl = tarballs.put(`/${Math.random().toString(36).slice(2)}.tar.gz`, await pluginTarball(files));
  await deliverInstall(deps, { workspace, pluginName: NAME, tarballUrl });
  await restartWorkspace(deps, { workspace });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'molecule-verify-health-'));
  instances = new LocalInstances(join(dir, 'instances'));
  emulator = await startSsmEmulator({ rootDir: instances.rootDir });
  tarballs = new TarballServer();
  await tarballs.start();
  ssm = new SSMClient({ endpoint: emulator.url, region: 'us-east-1', credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' } });
  deps = {
    ssm,
    config: {
      configDirFor: () => '/configs',
      restartCommand: LOCAL_RESTART_COMMAND,
      deliveryTimeoutMs: 30_000,
      healthCommandFor: () => LOCAL_HEALTH_COMMAND,
      healthTimeoutMs: 3_000,
    },
    ssmPolling: { pollIntervalMs: 20, maxPollIntervalMs: 100 },
  };
});

afterAll(async () => {
  ssm?.destroy();
  await emulator?.close();
  await tarballs?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await rm(root(), { recursive: true, force: true });
});

describe('verifyHealth', () => {
  it('passes a workspace whose agent started healthy', async () => {
    await installAndRestart(V1);

    const verdict = await verifyHealth(deps, { workspace, plugins: [{ name: NAME, skills: [] }] });

    expect(verdict).toEqual({ transport: 'ssm', commandId: expect.any(String), healthy: true, rolledBack: null, output: ['healthy'], checks: 1 });
  });

  it('puts the previous version back and restarts when the agent cannot load the new one', async () => {
    await installAndRestart(V1);
    await installAndRestart(V2);

    const verdict = await verifyHealth(deps, { workspace, plugins: [{ name: NAME, skills: [] }] });

    expect(verdict).toMatchObject({ transport: 'ssm', healthy: false, rolledBack: true });
    expect(verdict.checks).toBeGreaterThanOrEqual(1);
    expect(verdict.output).toEqual([expect.stringMatching(/^unhealthy: acme\.tools: \.mcp\.json is not valid JSON/)]);
    expect(await readFile(join(root(), 'configs', 'plugins', NAME, 'rules', 'x.md'), 'utf8')).toBe('v1\n');
    // The restart after putting v1 back started the agent on it.
    expect(await agentState()).toBe('healthy\n');
  });

  it('removes a first install the agent cannot load', async () => {
    await installAndRestart(V2);

    const verdict = await verifyHealth(deps, { workspace, plugins: [{ name: NAME, skills: [] }] });

    expect(verdict).toMatchObject({ healthy: false, rolledBack: true });
    expect(existsSync(join(root(), 'configs', 'plugins', NAME))).toBe(false);
    expect(await agentState()).toBe('healthy\n');
  });

  it('gives the host the whole gate even when one delivery command is bounded shorter', async () => {
    await installAndRestart(V2);
    const shortCommands = { ...deps, config: { ...deps.config, deliveryTimeoutMs: 2_000, healthCommandFor: () => 'echo never; exit 1' } };

    const verdict = await verifyHealth(shortCommands, { workspace, plugins: [{ name: NAME, skills: [] }] });

    expect(verdict).toMatchObject({ healthy: false, output: ['never'] });
  });
});
