import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contentHash } from '@molecule/plugins-sdk/contract/content-hash';
import { makeIdempotencyKey, RemoteAgentClient, type RemoteAgentOptions } from '../../../packages/sdk/src/remote-agent.js';
import { TokenCache } from '../../../packages/sdk/src/token-cache.js';
import { hostile, pluginEntries, tarGz } from '../../support/archives.js';
import { fakePlatform, type FakePlatform } from '../../support/fake-platform.js';

const WS = 'ws-remote-1';
const START = Date.parse('2026-12-01T10:00:00Z');
let platform: FakePlatform;
let home: string;
let clock: number;
let sleeps: number[];
let logs: string[];

function agent(options: Partial<RemoteAgentOptions> = {}): RemoteAgentClient {
  return new RemoteAgentClient({
    workspaceId: WS,
    platformUrl: `${platform.url}/`,
    stateDir: join(home, '.molecule', WS),
    now: () => clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    random: () => 0.5,
    logger: { info: (m) => logs.push(`info: ${m}`), warn: (m) => logs.push(`warn: ${m}`) },
    ...options,
  });
}

/** An agent whose token is already cached, as after register(). */
async function registered(options: Partial<RemoteAgentOptions> = {}): Promise<RemoteAgentClient> {
  const client = agent(options);
  await client.saveToken('ws-token');
  return client;
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;

beforeEach(async () => {
  platform = await fakePlatform();
  home = await mkdtemp(join(tmpdir(), 'remote-agent-'));
  clock = START;
  sleeps = [];
  logs = [];
});
afterEach(async () => {
  await platform.close();
  await rm(home, { recursive: true, force: true });
});

describe('register and the cached token', () => {
  it('registers without a token, caches the issued one 0600 in a 0700 directory, and sends it from then on', async () => {
    await mkdir(join(home, '.molecule', WS), { recursive: true, mode: 0o755 });
    await chmod(join(home, '.molecule', WS), 0o755);
    platform.answer('POST /registry/register', { status: 200, body: { status: 'registered', auth_token: 'tok-issued' } });
    platform.answer('GET /workspaces/ws-remote-1/secrets/values', { status: 200, body: { API_KEY: 'k' } });
    const client = agent();
    expect(await client.register()).toBe('tok-issued');
    const [call] = platform.to('POST /registry/register');
    expect(call?.headers.authorization).toBeUndefined();
    expect(call?.body).toEqual({ id: WS, url: 'remote://no-inbound', agent_card: { name: 'remote-agent-ws-remot' } });
    expect(await readFile(client.tokenFile, 'utf8')).toBe('tok-issued');
    expect(client.tokenFile).toBe(join(home, '.molecule', WS, '.auth_token'));
    expect(await mode(client.tokenFile)).toBe(0o600);
    expect(await mode(join(home, '.molecule', WS))).toBe(0o700);
    expect(await client.pullSecrets()).toEqual({ API_KEY: 'k' });
    expect(platform.to('GET /workspaces/ws-remote-1/secrets/values')[0]?.headers.authorization).toBe('Bearer tok-issued');
  });

  it('keeps the cached token when the platform issues none, and reports the URL it was given', async () => {
    platform.answer('POST /registry/register', { status: 200, body: { status: 'registered' } });
    await new TokenCache(join(home, '.molecule', WS)).save('tok-cached\n');
    const client = agent({ reportedUrl: 'https://agent.example/a2a', agentCard: { name: 'mine', skills: [] } });
    expect(await client.register()).toBe('tok-cached');
    expect(platform.to('POST /registry/register')[0]?.body).toMatchObject({ url: 'https://agent.example/a2a', agent_card: { name: 'mine', skills: [] } });
  });

  it('returns no token and warns when none was issued or cached; a refusal is thrown', async () => {
    platform.answer('POST /registry/register', { status: 200, body: {} }, { status: 400, body: { error: 'workspace not found' } });
    expect(await agent().register()).toBe('');
    expect(logs.some((l) => l.startsWith('warn: register issued no token'))).toBe(true);
    await expect(agent().register()).rejects.toMatchObject({ status: 400, message: 'workspace not found' });
  });

  it('serializes concurrent writers: the file always holds one whole token, and no temp or lock file is left', async () => {
    const dir = join(home, '.molecule', WS);
    const tokens = Array.from({ length: 20 }, (_, i) => `token-${i}-${'x'.repeat(200)}`);
    await Promise.all(tokens.map((t) => new TokenCache(dir).save(t)));
    expect(tokens).toContain(await readFile(join(dir, '.auth_token'), 'utf8'));
    expect(await readdir(dir)).toEqual(['.auth_token']);
  });

  it('waits for a writer in another process that holds the lock, and takes over a stale lock', async () => {
    const dir = join(home, '.molecule', WS);
    await mkdir(dir, { recursive: true });
    const lock = join(dir, '.auth_token.lock');
    await writeFile(lock, '');
    let done = false;
    const saving = new TokenCache(dir).save('after-the-lock').then(() => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(done).toBe(false);
    await rm(lock);
    await saving;
    expect(await readFile(join(dir, '.auth_token'), 'utf8')).toBe('after-the-lock');

    await writeFile(lock, '');
    const minuteAgo = new Date(Date.now() - 60_000);
    await utimes(lock, minuteAgo, minuteAgo);
    await new TokenCache(dir).save('over-a-stale-lock');
    expect(await readFile(join(dir, '.auth_token'), 'utf8')).toBe('over-a-stale-lock');
    expect(await readdir(dir)).toEqual(['.auth_token']);
  });

  it('refuses a workspace id that would put the token outside ~/.molecule', () => {
    expect(() => new RemoteAgentClient({ workspaceId: '../../.ssh', platformUrl: platform.url })).toThrow(/not a workspace id/);
  });
});

describe('secrets, state and heartbeat', () => {
  it('pulls secrets ({} when there are none) and throws on 401', async () => {
    const client = await registered();
    platform.answer('GET /workspaces/ws-remote-1/secrets/values', { status: 200, body: {} }, { status: 401, body: { error: 'invalid token' } });
    expect(await client.pullSecrets()).toEqual({});
    await expect(client.pullSecrets()).rejects.toMatchObject({ status: 401, message: 'invalid token' });
  });

  it('reads the state, and a 404 as deleted', async () => {
    const client = await registered();
    platform.answer(
      'GET /workspaces/ws-remote-1/state',
      { status: 200, body: { workspace_id: WS, status: 'online', paused: false, deleted: false } },
      { status: 200, body: { workspace_id: WS, status: 'paused', paused: true, deleted: false } },
      { status: 404, body: { deleted: true } },
    );
    expect(await client.pollState()).toEqual({ workspaceId: WS, status: 'online', paused: false, deleted: false, shouldStop: false });
    expect(await client.pollState()).toMatchObject({ status: 'paused', paused: true, shouldStop: true });
    expect(await client.pollState()).toEqual({ workspaceId: WS, status: 'removed', paused: false, deleted: true, shouldStop: true });
  });

  it('heartbeats with what the agent reports and its uptime, and throws on a refusal', async () => {
    const client = await registered();
    platform.answer('POST /registry/heartbeat', { status: 200, body: { status: 'ok' } }, { status: 503, body: { error: 'redis down' } });
    clock += 65_500;
    await client.heartbeat({ currentTask: 'reviewing', activeTasks: 2 });
    expect(platform.to('POST /registry/heartbeat')[0]).toMatchObject({
      headers: { authorization: 'Bearer ws-token' },
      body: { workspace_id: WS, current_task: 'reviewing', active_tasks: 2, error_rate: 0, sample_error: '', uptime_seconds: 65 },
    });
    await expect(client.heartbeat()).rejects.toMatchObject({ status: 503 });
  });

  it('runs the heartbeat loop through transient failures until the workspace is paused', async () => {
    const client = await registered();
    platform.answer('POST /registry/heartbeat', { status: 500, body: { error: 'boom' } }, { status: 200, body: {} });
    platform.answer(
      'GET /workspaces/ws-remote-1/state',
      { status: 200, body: { status: 'online', paused: false, deleted: false } },
      { status: 502, body: { error: 'bad gateway' } },
      { status: 200, body: { status: 'paused', paused: true, deleted: false } },
    );
    let asked = 0;
    const status = await client.runHeartbeatLoop({
      taskSupplier: () => {
        asked++;
        if (asked === 2) throw new Error('supplier broke');
        return { currentTask: `task ${asked}`, activeTasks: 1 };
      },
    });
    expect(status).toBe('paused');
    expect(sleeps).toEqual([30_000, 30_000]);
    expect(platform.to('POST /registry/heartbeat').map((r) => (r.body as { current_task: string }).current_task)).toEqual(['task 1', '', 'task 3']);
    expect(logs.filter((l) => l.startsWith('warn:'))).toEqual([
      expect.stringMatching(/^warn: heartbeat failed, continuing: /),
      expect.stringMatching(/^warn: taskSupplier failed: supplier broke/),
      expect.stringMatching(/^warn: state poll failed, continuing: /),
    ]);
  });

  it('stops the loop when the workspace is deleted, or after maxIterations, or when aborted', async () => {
    const client = await registered({ heartbeatIntervalMs: 5_000 });
    platform.answer('POST /registry/heartbeat', { status: 200, body: {} });
    platform.answer('GET /workspaces/ws-remote-1/state', { status: 200, body: { status: 'online' } }, { status: 404, body: { deleted: true } });
    expect(await client.runHeartbeatLoop()).toBe('removed');
    expect(sleeps).toEqual([5_000]);

    platform.answer('GET /workspaces/ws-remote-1/state', { status: 200, body: { status: 'online' } });
    expect(await client.runHeartbeatLoop({ maxIterations: 3 })).toBe('max_iterations');
    expect(platform.to('POST /registry/heartbeat')).toHaveLength(5);

    const controller = new AbortController();
    const aborting = await registered({
      sleep: async () => {
        controller.abort();
        throw new Error('aborted');
      },
    });
    expect(await aborting.runHeartbeatLoop({ signal: controller.signal })).toBe('aborted');
  });
});

describe('GET retries on 429', () => {
  it('waits what Retry-After asks, in seconds or as an HTTP-date, capped at 30 s', async () => {
    const client = await registered();
    platform.answer(
      'GET /workspaces/ws-remote-1/secrets/values',
      { status: 429, headers: { 'retry-after': '7' } },
      { status: 429, headers: { 'retry-after': new Date(START + 7_000 + 12_000).toUTCString() } },
      { status: 429, headers: { 'retry-after': '120' } },
      { status: 200, body: { K: 'v' } },
    );
    expect(await client.pullSecrets()).toEqual({ K: 'v' });
    expect(sleeps).toEqual([7_000, 12_000, 30_000]);
  });

  it('backs off exponentially with jitter when no Retry-After comes, up to 30 s, then gives up with the 429', async () => {
    const client = await registered({ getMaxRetries: 7, random: () => 1 });
    platform.answer('GET /workspaces/ws-remote-1/state', { status: 429, body: { error: 'rate limited' } });
    await expect(client.pollState()).rejects.toMatchObject({ status: 429 });
    expect(sleeps).toEqual([1_250, 2_500, 5_000, 10_000, 20_000, 30_000, 30_000]);
    expect(platform.to('GET /workspaces/ws-remote-1/state')).toHaveLength(8);

    sleeps = [];
    const low = await registered({ getMaxRetries: 2, random: () => 0 });
    await expect(low.pollState()).rejects.toMatchObject({ status: 429 });
    expect(sleeps).toEqual([750, 1_500]);
  });

  it('never retries a POST', async () => {
    const client = await registered();
    platform.answer('POST /registry/heartbeat', { status: 429, headers: { 'retry-after': '1' } });
    await expect(client.heartbeat()).rejects.toMatchObject({ status: 429 });
    expect(platform.to('POST /registry/heartbeat')).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });
});

describe('peers', () => {
  const PEERS = [
    { id: 'peer-a', name: 'A', url: 'http://127.0.0.1:1/a2a', role: 'reviewer', tier: 1, status: 'online', agent_card: { name: 'A' } },
    { id: 'peer-b', name: 'B', url: 'remote://no-inbound', status: 'online' },
    { name: 'no id' },
  ];

  it('lists peers and caches their URLs until the TTL passes', async () => {
    const client = await registered({ urlCacheTtlMs: 60_000 });
    platform.answer('GET /registry/ws-remote-1/peers', { status: 200, body: PEERS });
    platform.answer('GET /registry/discover/peer-a', { status: 200, body: { id: 'peer-a', url: 'http://127.0.0.1:2/a2a' } });
    platform.answer('GET /registry/discover/peer-b', { status: 200, body: { id: 'peer-b', url: 'remote://no-inbound' } });
    const peers = await client.getPeers();
    expect(peers).toEqual([
      { id: 'peer-a', name: 'A', url: 'http://127.0.0.1:1/a2a', role: 'reviewer', tier: 1, status: 'online', agentCard: { name: 'A' } },
      { id: 'peer-b', name: 'B', url: 'remote://no-inbound', role: '', tier: 2, status: 'online', agentCard: {} },
    ]);
    expect(platform.to('GET /registry/ws-remote-1/peers')[0]?.headers).toMatchObject({ authorization: 'Bearer ws-token', 'x-workspace-id': WS });

    expect(await client.discoverPeer('peer-a')).toBe('http://127.0.0.1:1/a2a');
    expect(platform.to('GET /registry/discover/peer-a')).toHaveLength(0);
    clock += 59_999;
    expect(await client.discoverPeer('peer-a')).toBe('http://127.0.0.1:1/a2a');
    clock += 1;
    expect(await client.discoverPeer('peer-a')).toBe('http://127.0.0.1:2/a2a');
    expect(platform.to('GET /registry/discover/peer-a')).toHaveLength(1);

    expect(await client.discoverPeer('peer-b')).toBeUndefined();
    expect(await client.discoverPeer('peer-b')).toBeUndefined();
    expect(platform.to('GET /registry/discover/peer-b')).toHaveLength(2);
  });

  it('answers undefined for an unknown peer, and rediscovers an invalidated URL', async () => {
    const client = await registered();
    platform.answer('GET /registry/discover/peer-a', { status: 200, body: { url: 'http://127.0.0.1:2/a2a' } });
    platform.answer('GET /registry/discover/peer-x', { status: 404, body: { error: 'not found' } });
    platform.answer('GET /registry/discover/peer-f', { status: 403, body: { error: 'not a sibling' } });
    expect(await client.discoverPeer('peer-x')).toBeUndefined();
    await expect(client.discoverPeer('peer-f')).rejects.toMatchObject({ status: 403, message: 'not a sibling' });
    await client.discoverPeer('peer-a');
    await client.discoverPeer('peer-a');
    client.invalidatePeerUrl('peer-a');
    await client.discoverPeer('peer-a');
    expect(platform.to('GET /registry/discover/peer-a')).toHaveLength(2);
  });

  it('calls a peer directly with an A2A message/send envelope', async () => {
    const peer = await fakePlatform();
    try {
      peer.answer('POST /a2a', { status: 200, body: { jsonrpc: '2.0', id: '1', result: { text: 'hi back' } } });
      platform.answer('GET /registry/discover/peer-a', { status: 200, body: { url: `${peer.url}/a2a` } });
      const client = await registered();
      expect(await client.callPeer('peer-a', 'hello')).toEqual({ jsonrpc: '2.0', id: '1', result: { text: 'hi back' } });
      const [sent] = peer.to('POST /a2a');
      expect(sent?.headers).toMatchObject({ 'x-workspace-id': WS, 'content-type': 'application/json' });
      expect(sent?.body).toEqual({
        jsonrpc: '2.0',
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        method: 'message/send',
        params: { message: { role: 'user', messageId: expect.stringMatching(/^[0-9a-f-]{36}$/), parts: [{ kind: 'text', text: 'hello' }] } },
      });
      expect(platform.to('POST /workspaces/peer-a/a2a')).toHaveLength(0);
    } finally {
      await peer.close();
    }
  });

  it.each([
    ['is not listening', async () => 'http://127.0.0.1:1/a2a'],
    [
      'answers 503',
      async (peer: FakePlatform) => {
        peer.answer('POST /a2a', { status: 503, body: { error: 'down' } });
        return `${peer.url}/a2a`;
      },
    ],
  ])('falls back to the platform proxy when the peer %s, and forgets its URL', async (_, peerUrl) => {
    const peer = await fakePlatform();
    try {
      platform.answer('GET /registry/discover/peer-a', { status: 200, body: { url: await peerUrl(peer) } });
      platform.answer('POST /workspaces/peer-a/a2a', { status: 200, body: { jsonrpc: '2.0', result: 'via proxy' } });
      const client = await registered();
      expect(await client.callPeer('peer-a', 'hello')).toEqual({ jsonrpc: '2.0', result: 'via proxy' });
      expect(platform.to('POST /workspaces/peer-a/a2a')[0]?.headers).toMatchObject({ authorization: 'Bearer ws-token', 'x-workspace-id': WS });
      expect(logs.some((l) => l.startsWith('warn: direct A2A to peer-a'))).toBe(true);
      await client.discoverPeer('peer-a');
      expect(platform.to('GET /registry/discover/peer-a')).toHaveLength(2);
    } finally {
      await peer.close();
    }
  });

  it('goes through the proxy only when asked not to call directly, and throws the proxy refusal', async () => {
    const client = await registered();
    platform.answer('POST /workspaces/peer-a/a2a', { status: 200, body: { result: 1 } }, { status: 403, body: { error: 'forbidden' } });
    expect(await client.callPeer('peer-a', 'x', { preferDirect: false })).toEqual({ result: 1 });
    expect(platform.to('GET /registry/discover/peer-a')).toHaveLength(0);
    await expect(client.callPeer('peer-a', 'x', { preferDirect: false })).rejects.toMatchObject({ status: 403 });
  });
});

describe('delegation', () => {
  it('sends the task with a key made of the task and the minute, or the key given', async () => {
    const client = await registered();
    platform.answer('POST /workspaces/peer-a/delegate', { status: 202, body: { delegation_id: 'd-1', status: 'queued' } });
    expect(await client.delegate('review PR 7', 'peer-a')).toEqual({ delegation_id: 'd-1', status: 'queued' });
    clock += 59_000;
    await client.delegate('review PR 7', 'peer-a');
    clock += 1_000;
    await client.delegate('review PR 7', 'peer-a');
    await client.delegate('review PR 7', 'peer-a', { idempotencyKey: 'mine' });
    const keys = platform.to('POST /workspaces/peer-a/delegate').map((r) => (r.body as { idempotency_key: string }).idempotency_key);
    expect(keys[0]).toBe(makeIdempotencyKey('review PR 7', START));
    expect(keys[1]).toBe(keys[0]);
    expect(keys[2]).not.toBe(keys[0]);
    expect(keys[3]).toBe('mine');
    expect(platform.to('POST /workspaces/peer-a/delegate')[0]?.body).toMatchObject({ task: 'review PR 7' });
  });

  it.skipIf(spawnSync('python3', ['--version']).status !== 0)('makes the same key as the Python client for the same task and minute', () => {
    const now = START + 42_123;
    const script = 'import hashlib,sys; t=int(sys.argv[2])//60*60; print(hashlib.sha256(f"{sys.argv[1]}:{t}".encode("utf-8")).hexdigest(), end="")';
    const python = spawnSync('python3', ['-c', script, 'tâche ✓', String(Math.floor(now / 1000))], { encoding: 'utf8' });
    expect(makeIdempotencyKey('tâche ✓', now)).toBe(python.stdout);
    expect(makeIdempotencyKey('another', now)).not.toBe(python.stdout);
  });
});

describe('installPlugin', () => {
  const FILES = { 'plugin.yaml': 'name: demo\n', 'rules/a.md': 'rule\n', 'setup.sh': 'echo set up > .setup-ran\n' };
  const hashOf = (files: Record<string, string>) =>
    contentHash(Object.entries(files).map(([path, text]) => [path, createHash('sha256').update(text).digest('hex')] as const));
  const DOWNLOAD = 'GET /workspaces/ws-remote-1/plugins/demo/download';
  const REPORT = 'POST /workspaces/ws-remote-1/plugins';

  /** This service: 302 to a presigned URL that refuses an Authorization header, the plugin's headers on the 302. */
  async function serve302(tarball: Buffer, sha256: string) {
    platform.answer(DOWNLOAD, (url) => ({
      status: 302,
      headers: {
        location: `${url}/presigned/demo.tgz?X-Amz-Signature=abc`,
        'x-plugin-name': 'demo',
        'x-plugin-source': 'local://demo',
        'x-plugin-sha256': sha256,
      },
    }));
    platform.answer('GET /presigned/demo.tgz', { status: 200, raw: tarball });
  }

  async function previousVersion(client: RemoteAgentClient) {
    await mkdir(join(client.pluginsDir, 'demo'), { recursive: true });
    await writeFile(join(client.pluginsDir, 'demo', 'old.md'), 'the version before\n');
  }

  it('downloads through the 302, unpacks, verifies, runs setup.sh and reports the install with the workspace token', async () => {
    const client = await registered();
    await previousVersion(client);
    await serve302(await tarGz(pluginEntries(FILES)), hashOf(FILES));
    platform.answer(REPORT, { status: 200, body: { status: 'installed', plugin: 'demo', source: 'local://demo' } });
    const progress: number[] = [];
    const installed = await client.installPlugin('demo', { onProgress: ({ bytes }) => progress.push(bytes) });
    expect(installed).toEqual({ dir: join(client.pluginsDir, 'demo'), sha256: hashOf(FILES), files: 3, setup: 'ok', reported: true });
    expect((await readdir(installed.dir)).sort()).toEqual(['.setup-ran', 'plugin.yaml', 'rules', 'setup.sh']);
    expect(await readdir(client.pluginsDir)).toEqual(['demo']);
    expect(progress.at(-1)).toBeGreaterThan(0);
    expect(platform.to(DOWNLOAD)[0]?.headers.authorization).toBe('Bearer ws-token');
    expect(platform.to('GET /presigned/demo.tgz')[0]?.headers.authorization).toBeUndefined();
    expect(platform.to(REPORT)).toMatchObject([{ headers: { authorization: 'Bearer ws-token' }, body: { source: 'local://demo' } }]);
  });

  it('takes the tarball in a 200 as the original platform answers, checking the sha256 plugin.yaml declares', async () => {
    const content = { 'rules/a.md': 'rule\n' };
    const files = { 'plugin.yaml': `name: demo\nsha256: ${hashOf(content)}\n`, ...content };
    const client = await registered();
    platform.answer('GET /workspaces/ws-remote-1/plugins/demo/download', { status: 200, raw: await tarGz(pluginEntries(files)) });
    platform.answer(REPORT, { status: 200, body: {} });
    const installed = await client.installPlugin('demo', { source: 'github://acme/demo#v1' });
    expect(installed).toMatchObject({ sha256: hashOf(content), setup: 'absent', reported: true });
    expect(platform.to(DOWNLOAD)[0]?.path).toBe('/workspaces/ws-remote-1/plugins/demo/download?source=github%3A%2F%2Facme%2Fdemo%23v1');
    expect(platform.to(REPORT)[0]?.body).toEqual({ source: 'github://acme/demo#v1' });
  });

  it.each([
    ['plugin.yaml declares another sha256', { ...FILES, 'plugin.yaml': `name: demo\nsha256: ${'0'.repeat(64)}\n` }, ''],
    ['plugin.yaml declares something that is not a hash', { ...FILES, 'plugin.yaml': 'name: demo\nsha256: [1, 2]\n' }, ''],
    ['X-Plugin-Sha256 announces another hash', FILES, 'f'.repeat(64)],
  ])('refuses a plugin when %s: the previous version stays, setup.sh is not run, nothing is reported', async (_, files, announced) => {
    const client = await registered();
    await previousVersion(client);
    await serve302(await tarGz(pluginEntries(files)), announced || hashOf(files));
    await expect(client.installPlugin('demo')).rejects.toMatchObject({ code: 'integrity_mismatch' });
    expect(await readdir(client.pluginsDir)).toEqual(['demo']);
    expect(await readdir(join(client.pluginsDir, 'demo'))).toEqual(['old.md']);
    expect(platform.to(REPORT)).toHaveLength(0);
  });

  it.each([
    ['a ../ escape', hostile.dotDotEscape],
    ['a nested ../ escape', hostile.nestedDotDot],
    ['an absolute path', hostile.absolutePath],
    ['a symlink to /etc', hostile.symlinkToEtc],
    ['a hardlink', hostile.hardlink],
    ['a device', hostile.charDevice],
    ['a fifo', hostile.fifo],
    ['gzipped garbage', hostile.gzippedGarbage],
    ['a truncated gzip', hostile.truncatedGzip],
  ])('refuses a tarball with %s, writing nothing outside the plugins dir', async (_, archive) => {
    const client = await registered();
    await previousVersion(client);
    await serve302(await archive(), 'a'.repeat(64));
    await expect(client.installPlugin('demo')).rejects.toMatchObject({ code: 'invalid_archive' });
    expect((await readdir(join(home, '.molecule', WS))).sort()).toEqual(['.auth_token', 'plugins']);
    expect(await readdir(client.pluginsDir)).toEqual(['demo']);
    expect(await readdir(join(client.pluginsDir, 'demo'))).toEqual(['old.md']);
    expect(await readdir(home)).toEqual(['.molecule']);
    expect(platform.to(REPORT)).toHaveLength(0);
  });

  it('refuses a download announcing another name before touching any file', async () => {
    const client = await registered();
    await previousVersion(client);
    platform.answer(DOWNLOAD, { status: 200, raw: await tarGz(pluginEntries(FILES)), headers: { 'x-plugin-name': '../../x' } });
    await expect(client.installPlugin('demo')).rejects.toMatchObject({ code: 'invalid_plugin_name' });
    await expect(client.installPlugin('../x')).rejects.toMatchObject({ code: 'invalid_plugin_name' });
    expect(await readdir(join(client.pluginsDir, 'demo'))).toEqual(['old.md']);
    expect(await readdir(home)).toEqual(['.molecule']);
  });

  it('logs a failing or hanging setup.sh instead of throwing, and still reports the install', async () => {
    // A bound no loaded machine reaches for a script that exits at once, and a short one for the script that hangs.
    const client = await registered({ setupTimeoutMs: 60_000 });
    platform.answer(REPORT, { status: 200, body: {} });
    const failing = { ...FILES, 'setup.sh': 'echo "pip exploded" >&2; exit 3\n' };
    await serve302(await tarGz(pluginEntries(failing)), hashOf(failing));
    expect(await client.installPlugin('demo')).toMatchObject({ setup: 'failed', reported: true });
    expect(logs).toContainEqual(expect.stringMatching(/^warn: plugin demo: setup\.sh exit 3: pip exploded/));

    const impatient = agent({ setupTimeoutMs: 500 });
    const hanging = { ...FILES, 'setup.sh': 'sleep 30 & wait\n' };
    await serve302(await tarGz(pluginEntries(hanging)), hashOf(hanging));
    expect(await impatient.installPlugin('demo')).toMatchObject({ setup: 'timed_out', reported: true });
    expect(logs).toContainEqual('warn: plugin demo: setup.sh timed out after 500 ms');

    await serve302(await tarGz(pluginEntries(FILES)), hashOf(FILES));
    expect(await client.installPlugin('demo', { runSetup: false, reportToPlatform: false })).toMatchObject({ setup: 'skipped', reported: false });
    expect(await readdir(join(client.pluginsDir, 'demo'))).not.toContain('.setup-ran');
    expect(platform.to(REPORT)).toHaveLength(2);
  });

  it('keeps the install when the platform refuses the report, and says why', async () => {
    const client = await registered();
    await serve302(await tarGz(pluginEntries(FILES)), hashOf(FILES));
    platform.answer(REPORT, { status: 403, body: { error: 'workspace tokens only read', code: 'forbidden' } });
    expect(await client.installPlugin('demo', { runSetup: false })).toMatchObject({ reported: false });
    expect(logs).toContainEqual('warn: plugin demo: the install report was refused: workspace tokens only read (forbidden, HTTP 403)');
    expect(await readdir(join(client.pluginsDir, 'demo'))).toContain('plugin.yaml');
  });

  it('needs a workspace token, and passes on a refused download', async () => {
    await expect(agent().installPlugin('demo')).rejects.toMatchObject({ code: 'unauthorized' });
    const client = await registered();
    platform.answer(DOWNLOAD, { status: 403, body: { error: 'plugin "demo" is not in the org allowlist', code: 'plugin_not_allowed' } });
    await expect(client.installPlugin('demo')).rejects.toMatchObject({ status: 403, code: 'plugin_not_allowed' });
  });
});
