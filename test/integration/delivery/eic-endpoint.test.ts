import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EC2InstanceConnectClient } from '@aws-sdk/client-ec2-instance-connect';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { deliverInstall, restartWorkspace, type DeliveryDeps } from '../../../lambdas/delivery/index.js';
import type { EicSettings } from '../../../lambdas/delivery/eic.js';
import { openTunnel } from '../../../lambdas/delivery/eic-tunnel.js';
import { presignTunnelUrl, signingFrom } from '../../../lambdas/delivery/eic-tunnel-url.js';
import type { Workspace } from '../../../lambdas/shared/types.js';
import { query } from '../../../lambdas/store/db.js';
import { pgTunnelSlots, takeTunnelSlot } from '../../../lambdas/store/tunnel-slots.js';
import { DEMO_ENDPOINT } from '../../../local/ec2-emulator.js';
import { startEicEmulator, type EicEmulator } from '../../../local/eic-emulator.js';
import { LOCAL_RESTART_COMMAND, LocalInstances } from '../../../local/instances.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { pluginTarball, TarballServer } from '../../support/plugin-tarballs.js';

/**
 * EC2 Instance Connect through the endpoint's tunnel, with the real EC2 and EIC clients, the
 * presigned WebSocket, ssh2 over it, the EICE emulator checking every signature, and the
 * per-endpoint cap in PostgreSQL: what a refused, throttled, missing or cut tunnel does, and that
 * the cap holds across "containers" (separate clients) sharing one database.
 */
const credentials = { accessKeyId: 'AKIDENDPOINTTEST', secretAccessKey: 'endpoint-test-secret' };
const region = 'us-east-1';
const V1 = { 'plugin.yaml': 'name: acme.tools\nversion: 1.0.0\n', 'rules/x.md': 'Always be kind (v1).\n', 'rules/long.md': `${'v1 line\n'.repeat(200)}` };
const V2 = { 'plugin.yaml': 'name: acme.tools\nversion: 2.0.0\n', 'rules/x.md': 'Always be kind (v2).\n' };

let dir: string;
let database: TestDatabase;
let instances: LocalInstances;
let emulator: EicEmulator;
let tarballs: TarballServer;
/** Moves the emulator's clock (presign expiry) and nothing else. */
let skewMs = 0;
/** Cuts the next tunnels after this many bytes from the client. */
let cutAfter: number | undefined;
const clients: Array<{ destroy(): void }> = [];

function ec2Client(secretAccessKey = credentials.secretAccessKey, endpoint = emulator.ec2Url) {
  const client = new EC2Client({ endpoint, region, credentials: { ...credentials, secretAccessKey } });
  clients.push(client);
  return client;
}

function eicClient(endpoint = emulator.eicUrl) {
  const client = new EC2InstanceConnectClient({ endpoint, region, credentials });
  clients.push(client);
  return client;
}

function settingsOf(on: EicEmulator, overrides: Partial<EicSettings> = {}): EicSettings {
  return {
    osUser: 'ubuntu',
    connection: 'endpoint',
    tunnelUrl: on.env.PLUGIN_EIC_TUNNEL_URL,
    sshHost: on.sshHost,
    sshPort: on.sshPort,
    sshCommand: 'bash -s',
    hostKeyFingerprints: [on.hostKeyFingerprint],
    ...overrides,
  };
}

/** One "Lambda container": its own clients (and so its own endpoint cache), the shared database's slots. */
function container(overrides: { settings?: Partial<EicSettings>; secret?: string; on?: EicEmulator } = {}): DeliveryDeps {
  const on = overrides.on ?? emulator;
  const ec2 = ec2Client(overrides.secret, on.ec2Url);
  const eic = eicClient(on.eicUrl);
  return {
    ssm: new SSMClient({ region, credentials }),
    config: {
      configDirFor: () => '/configs',
      restartCommand: LOCAL_RESTART_COMMAND,
      deliveryTimeoutMs: 60_000,
      healthCommandFor: () => 'true',
      healthTimeoutMs: 4_000,
    },
    eic: { settings: settingsOf(on, overrides.settings), clients: async () => ({ ec2, eic }), tunnelSlots: pgTunnelSlots(database.db) },
  };
}

const workspace = (instanceId: string): Workspace => ({
  id: `ws-${instanceId.slice(-4)}`,
  orgId: 'org-1',
  runtime: 'claude-code',
  instanceId,
  transport: 'eic',
  status: 'running',
});

async function install(deps: DeliveryDeps, instanceId: string, files: Record<string, string>) {
  const url = tarballs.put(`/${instanceId}-${Math.random().toString(36).slice(2)}.tar.gz`, await pluginTarball(files));
  return deliverInstall(deps, { workspace: workspace(instanceId), pluginName: 'acme.tools', tarballUrl: url });
}

const pluginDir = (instanceId: string) => join(instances.rootDir, instanceId, 'configs', 'plugins', 'acme.tools');

async function tree(root: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) Object.assign(out, await tree(root, rel));
    else out[rel] = await readFile(join(root, rel), 'utf8');
  }
  return out;
}

/** What the last tunnel carried up, once the emulator has seen it close. */
async function lastTunnelBytes(): Promise<number> {
  await vi.waitFor(() => expect(emulator.tunnels.stats().open).toBe(0), { timeout: 10_000 });
  return emulator.tunnels.stats().bytesUp.at(-1)!;
}

const slotRows = async () => (await query<{ n: number }>(database.db, 'SELECT count(*)::int AS n FROM eic_tunnel_slots'))[0]!.n;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'molecule-eice-'));
  database = await createTestDatabase();
  instances = new LocalInstances(join(dir, 'instances'));
  emulator = await startEicEmulator({
    rootDir: instances.rootDir,
    isRunning: instances.isRunning,
    credentials,
    region,
    now: () => Date.now() + skewMs,
    tunnels: { cutAfterBytes: () => cutAfter },
  });
  tarballs = new TarballServer();
  await tarballs.start();
}, 60_000);

afterAll(async () => {
  for (const client of clients) client.destroy();
  await emulator?.close();
  await tarballs?.close();
  await database?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  skewMs = 0;
  cutAfter = undefined;
  emulator.tunnels.resetStats();
  await query(database.db, 'DELETE FROM eic_tunnel_slots');
});

describe('a delivery through the endpoint', () => {
  it('finds the endpoint of the instance VPC, opens a presigned tunnel and reports eic-endpoint', async () => {
    const outcome = await install(container(), 'i-0e1ce00000000a001', V1);

    expect(outcome.transport).toBe('eic-endpoint');
    expect(await tree(pluginDir('i-0e1ce00000000a001'))).toEqual(V1);
    await lastTunnelBytes();
    expect(emulator.tunnels.stats()).toMatchObject({ opened: 1, open: 0, maxOpen: { [DEMO_ENDPOINT.id]: 1 } });
    expect(await slotRows()).toBe(0);
  });

  it('with auto, tunnels when the VPC has an endpoint; direct when PLUGIN_EIC_CONNECTION says so', async () => {
    expect((await install(container({ settings: { connection: 'auto' } }), 'i-0e1ce00000000a002', V1)).transport).toBe('eic-endpoint');
    expect((await install(container({ settings: { connection: 'direct' } }), 'i-0e1ce00000000a002', V2)).transport).toBe('eic-direct');
    expect(emulator.tunnels.stats().opened).toBe(1);
  });
});

describe('a tunnel the endpoint refuses', () => {
  const instanceId = 'i-0e1ce00000000b001';
  beforeEach(async () => {
    await rm(join(instances.rootDir, instanceId), { recursive: true, force: true });
    await install(container(), instanceId, V1);
    emulator.tunnels.resetStats();
  });

  it('signed with the wrong secret: delivery_failed (403), the previous version intact', async () => {
    const failed = install(container({ secret: 'not-the-secret' }), instanceId, V2);

    await expect(failed).rejects.toMatchObject({
      code: 'delivery_failed',
      message: expect.stringContaining('refused to open the tunnel (HTTP 403)'),
      details: { httpStatus: 403, endpointId: DEMO_ENDPOINT.id },
    });
    expect(emulator.tunnels.stats().reasons).toEqual([expect.stringContaining('signature we calculated does not match')]);
    expect(await tree(pluginDir(instanceId))).toEqual(V1);
  });

  it('presented after its 60 s: delivery_failed (403), the previous version intact', async () => {
    skewMs = 61_000;

    await expect(install(container(), instanceId, V2)).rejects.toMatchObject({ code: 'delivery_failed', details: { httpStatus: 403 } });
    expect(emulator.tunnels.stats().reasons).toEqual(['Request has expired']);
    expect(await tree(pluginDir(instanceId))).toEqual(V1);
  });

  it.each([
    ['another private IP', (url: URL) => url.searchParams.set('privateIpAddress', '10.0.0.9')],
    ['another port', (url: URL) => url.searchParams.set('remotePort', '2222')],
    ['a longer tunnel', (url: URL) => url.searchParams.set('maxTunnelDuration', '3600')],
    ['another endpoint', (url: URL) => url.searchParams.set('instanceConnectEndpointId', 'eice-0123456789abcdef0')],
    ['a later expiry', (url: URL) => url.searchParams.set('X-Amz-Expires', '3600')],
  ])('with a query tampered to ask for %s: refused as delivery_failed (403)', async (_what, tamper) => {
    const url = new URL(
      await presignTunnelUrl(await signingFrom(ec2Client()), {
        endpoint: DEMO_ENDPOINT,
        privateIpAddress: '127.0.0.1',
        maxTunnelSeconds: 60,
        tunnelUrl: emulator.env.PLUGIN_EIC_TUNNEL_URL!,
      }),
    );
    tamper(url);

    await expect(openTunnel(url.toString(), { openMs: 10_000, idleMs: 10_000, totalMs: 10_000 }, {})).rejects.toMatchObject({
      code: 'delivery_failed',
      details: { httpStatus: 403 },
    });
    expect(emulator.tunnels.stats().reasons).toEqual([expect.stringContaining('signature we calculated does not match')]);
  });

  it('signed for another region: refused as delivery_failed (403)', async () => {
    const signing = { ...(await signingFrom(ec2Client())), region: 'eu-west-1' };
    const url = await presignTunnelUrl(signing, {
      endpoint: DEMO_ENDPOINT,
      privateIpAddress: '127.0.0.1',
      maxTunnelSeconds: 60,
      tunnelUrl: emulator.env.PLUGIN_EIC_TUNNEL_URL!,
    });

    await expect(openTunnel(url, { openMs: 10_000, idleMs: 10_000, totalMs: 10_000 }, {})).rejects.toMatchObject({ code: 'delivery_failed' });
    expect(emulator.tunnels.stats().reasons).toEqual([expect.stringContaining("scoped to a valid region, not 'eu-west-1'")]);
  });

  it('the untampered URL opens', async () => {
    const url = await presignTunnelUrl(await signingFrom(ec2Client()), {
      endpoint: DEMO_ENDPOINT,
      privateIpAddress: '127.0.0.1',
      maxTunnelSeconds: 60,
      tunnelUrl: emulator.env.PLUGIN_EIC_TUNNEL_URL!,
    });

    const sock = await openTunnel(url, { openMs: 10_000, idleMs: 10_000, totalMs: 10_000 }, {});
    const banner = await new Promise<string>((resolve) => sock.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))));
    sock.destroy();

    expect(banner).toMatch(/^SSH-2\.0-/);
  });
});

describe('the tunnel cap', () => {
  it('30 concurrent deliveries from two containers with a cap of 5 never have more than 5 tunnels open, and all succeed', async () => {
    const cap = { tunnelsPerEndpoint: 5 };
    const containers = [container({ settings: cap }), container({ settings: cap })];
    const ids = Array.from({ length: 30 }, (_, i) => `i-0e1ce00000000c${String(i).padStart(3, '0')}`);

    const outcomes = await Promise.allSettled(ids.map((id, i) => install(containers[i % 2]!, id, V1)));

    expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
    const stats = emulator.tunnels.stats();
    expect(stats.opened).toBe(30);
    expect(stats.maxOpen[DEMO_ENDPOINT.id]).toBeLessThanOrEqual(5);
    expect(stats.maxOpen[DEMO_ENDPOINT.id]).toBeGreaterThan(1);
    for (const id of ids) expect(await tree(pluginDir(id))).toEqual(V1);
    expect(await slotRows()).toBe(0);
  }, 240_000);

  it('waits for a slot that a crashed holder never gave back, until its lease ends', async () => {
    expect(await takeTunnelSlot(database.db, DEMO_ENDPOINT.id, 'a-lambda-that-died', 1, 1_500)).toBe(0);

    const outcome = await install(container({ settings: { tunnelsPerEndpoint: 1 } }), 'i-0e1ce00000000d001', V1);

    expect(outcome.transport).toBe('eic-endpoint');
    expect(emulator.tunnels.stats().opened).toBe(1);
  });

  it('is workspace_busy (retried by the workflow) when no slot frees up within the wait', async () => {
    await takeTunnelSlot(database.db, DEMO_ENDPOINT.id, 'a-long-delivery', 1, 60_000);

    const busy = install(container({ settings: { tunnelsPerEndpoint: 1, tunnelSlotWaitMs: 500 } }), 'i-0e1ce00000000d002', V1);

    await expect(busy).rejects.toMatchObject({ name: 'WorkspaceBusy', code: 'workspace_busy', transient: true, details: { endpointId: DEMO_ENDPOINT.id } });
    expect(emulator.tunnels.stats().opened).toBe(0);
    expect(existsSync(pluginDir('i-0e1ce00000000d002'))).toBe(false);
  });
});

describe('a tunnel cut mid-transfer', () => {
  const instanceId = 'i-0e1ce00000000e001';

  it('leaves the previous version byte for byte, wherever the cut falls', async () => {
    const deps = container();
    await install(deps, instanceId, V1);
    const installBytes = await lastTunnelBytes();
    await restartWorkspace(deps, { workspace: workspace(instanceId) });
    const loginBytes = await lastTunnelBytes();
    // The install script is most of what goes up; logging in and a restart are far less.
    expect(installBytes - loginBytes).toBeGreaterThan(2_000);

    for (const share of [0.1, 0.5, 0.9]) {
      cutAfter = Math.round(loginBytes + share * (installBytes - loginBytes));
      await expect(install(deps, instanceId, V2)).rejects.toMatchObject({
        code: 'delivery_failed',
        message: expect.stringMatching(/SSH connection to the workspace (was lost|closed)/),
      });
      expect(await tree(pluginDir(instanceId))).toEqual(V1);
      expect(existsSync(join(instances.rootDir, instanceId, 'configs', 'plugins', '.staging'))).toBe(false);
    }

    cutAfter = Math.round(loginBytes / 3);
    await expect(install(deps, instanceId, V2)).rejects.toMatchObject({ code: 'workspace_unreachable' });
    expect(await tree(pluginDir(instanceId))).toEqual(V1);

    cutAfter = undefined;
    await install(deps, instanceId, V2);
    expect(await tree(pluginDir(instanceId))).toEqual(V2);
    expect(await slotRows()).toBe(0);
  }, 120_000);
});

describe('a VPC without a usable endpoint', () => {
  let bare: EicEmulator;
  let full: EicEmulator;
  beforeAll(async () => {
    bare = await startEicEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning, credentials, region, endpoints: [] });
    full = await startEicEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning, credentials, region, tunnels: { tunnelsPerEndpoint: 0 } });
  });
  afterAll(async () => {
    await bare?.close();
    await full?.close();
  });

  it('with PLUGIN_EIC_CONNECTION=endpoint: workspace_unreachable, nothing pushed to the host', async () => {
    const failed = install(container({ on: bare }), 'i-0e1ce00000000f001', V1);

    await expect(failed).rejects.toMatchObject({
      code: 'workspace_unreachable',
      message: "there is no EC2 Instance Connect Endpoint in the workspace instance's VPC to tunnel through",
    });
    expect(existsSync(pluginDir('i-0e1ce00000000f001'))).toBe(false);
  });

  it('with auto: SSH directly instead', async () => {
    expect((await install(container({ on: bare, settings: { connection: 'auto' } }), 'i-0e1ce00000000f002', V1)).transport).toBe('eic-direct');
  });

  it('an endpoint at its own limit (429) is AWS trouble the workflow retries, then workspace_unreachable', async () => {
    const throttled = install(container({ on: full }), 'i-0e1ce00000000f003', V1);

    await expect(throttled).rejects.toMatchObject({ name: 'AwsThrottled', code: 'workspace_unreachable', details: { httpStatus: 429 } });
    expect(existsSync(pluginDir('i-0e1ce00000000f003'))).toBe(false);
  });
});
