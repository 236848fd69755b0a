import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PluginDeliveryClient } from '../../packages/sdk/src/client.js';
import { pullPlugin } from '../../packages/sdk/src/pull.js';
import { pluginEntries, tarGz } from '../support/archives.js';
import { FakeCodeload } from '../support/codeload.js';
import { useLocalStack } from '../support/local-stack.js';

/**
 * `/download` within API Gateway's 30 s, end to end on `npm start`'s process with a stand-in for
 * codeload.github.com that counts fetches: a staged source is reused, and a source slower than the
 * budget (`PLUGIN_DOWNLOAD_BUDGET=1s` here) is answered 202 + Retry-After while staging goes on.
 * The slow source is held back by a gate the test opens, not by a timer.
 */
const codeload = new FakeCodeload();
let wsToken = '';
let openGate: () => void = () => undefined;
const gate = new Promise<void>((resolve) => {
  openGate = resolve;
});
let openSdkGate: () => void = () => undefined;
const sdkGate = new Promise<void>((resolve) => {
  openSdkGate = resolve;
});

const archive = (repo: string, ref: string) =>
  tarGz(pluginEntries({ 'plugin.yaml': `name: ${repo}\nversion: 1.0.0\n`, 'rules/style.md': `Be kind (${repo}).\n` }, `${repo}-${ref}`));

beforeAll(async () => {
  await codeload.start();
  codeload.set('acme/quick', 'v1', await archive('quick', 'v1'));
  const slow = await archive('slow', 'v1');
  codeload.set('acme/slow', 'v1', () => gate.then(() => slow));
  const slowForSdk = await archive('slow-sdk', 'v1');
  codeload.set('acme/slow-sdk', 'v1', () => sdkGate.then(() => slowForSdk));
}, 30_000);

const stack = useLocalStack(() => ({ GITHUB_CODELOAD_URL: codeload.url, PLUGIN_DOWNLOAD_BUDGET: '1s' }));

beforeAll(async () => {
  const admin = { token: stack.adminToken };
  await stack.call('PUT', '/admin/workspaces/ext-dl', { ...admin, body: { orgId: 'dl-org', runtime: 'external' } });
  wsToken = (await stack.call('POST', '/admin/workspaces/ext-dl/tokens', admin)).body.token;
}, 60_000);

const download = (name: string, source: string) =>
  stack.call('GET', `/workspaces/ext-dl/plugins/${name}/download?source=${encodeURIComponent(source)}`, { token: wsToken });
const fetches = (repo: string) => codeload.requests.filter((r) => r.startsWith(`/${repo}/`)).length;

describe('download within API Gateway limits', () => {
  it('reuses the staged copy of a source it staged before: no second fetch', async () => {
    const first = await download('quick', 'github://acme/quick#v1');
    expect(first.status).toBe(302);
    const second = await download('quick', 'github://acme/quick#v1');
    expect(second.status).toBe(302);
    expect(second.headers.get('x-plugin-sha256')).toBe(first.headers.get('x-plugin-sha256'));
    expect(fetches('acme/quick')).toBe(1);
    const tarball = await fetch(String(second.headers.get('location')));
    expect(tarball.status).toBe(200);
  }, 60_000);

  it('answers 202 with Retry-After past the budget, then 302 once staging has finished, fetching once', async () => {
    const pending = await download('slow', 'github://acme/slow#v1');
    expect(pending.status).toBe(202);
    expect(Number(pending.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(pending.body).toMatchObject({ status: 'staging', plugin: 'slow', source: 'github://acme/slow#v1' });
    openGate();
    let later = await download('slow', 'github://acme/slow#v1');
    for (let i = 0; i < 60 && later.status === 202; i++) {
      await new Promise((r) => setTimeout(r, 500));
      later = await download('slow', 'github://acme/slow#v1');
    }
    expect(later.status).toBe(302);
    expect(later.headers.get('x-plugin-name')).toBe('slow');
    expect(fetches('acme/slow')).toBe(1);
  }, 90_000);

  it("lets the SDK's pull wait through a 202 as Retry-After asks, then install the plugin", async () => {
    const client = new PluginDeliveryClient({ baseUrl: stack.url, token: wsToken });
    const pluginsDir = await mkdtemp(join(tmpdir(), 'mpd-pull-'));
    const waits: number[] = [];
    const pulled = await pullPlugin(client, {
      workspaceId: 'ext-dl',
      name: 'slow-sdk',
      source: 'github://acme/slow-sdk#v1',
      pluginsDir,
      maxAttempts: 40,
      sleep: async (ms) => {
        waits.push(ms);
        openSdkGate();
        await new Promise((r) => setTimeout(r, 500));
      },
    });
    // The source was held until the first 202: the pull waited what Retry-After said, at least once.
    expect(waits.length).toBeGreaterThan(0);
    expect(waits[0]).toBe(5000);
    expect(await readFile(join(pulled.dir, 'rules', 'style.md'), 'utf8')).toBe('Be kind (slow-sdk).\n');
    expect(fetches('acme/slow-sdk')).toBe(1);
  }, 120_000);
});
