import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useLocalStack } from '../support/local-stack.js';
import { FakeCodeload } from '../support/codeload.js';
import { bigArchive, gzipBomb, pluginEntries, tarGz, tarGzStream, type FixtureEntry } from '../support/archives.js';
import { LOCAL_RESTART_COMMAND } from '../../local/instances.js';

/**
 * SPEC §2-§5 end to end: `npm start`'s process, the CDK-synthesized workflow on the local engine,
 * delivery through the SSM emulator onto emulated hosts, and a stand-in for codeload.github.com.
 */
const codeload = new FakeCodeload();
/** Status reads 100 ms apart before a test gives up on an operation: a minute, which only a loaded machine approaches. */
const OPERATION_POLLS = 600;
let org = '';

const INSTANCES: Record<string, string> = {
  w1: 'i-0e2e0000000000001',
  w2: 'i-0e2e0000000000002',
  w3: 'i-0e2e0000000000003',
  w4: 'i-0e2e0000000000004',
  w5: 'i-0e2e0000000000005',
  'w-stop': 'i-0e2e00000000000ff',
  'w-norestart': 'i-0e2e00000000000fe',
};
const pluginDir = (ws: string, name: string) => join(stack.localDir, 'instances', INSTANCES[ws]!, 'configs', 'plugins', name);
const restartLines = async (ws: string) => {
  const log = join(stack.localDir, 'instances', INSTANCES[ws]!, 'var', 'log', 'molecule-restarts.log');
  return existsSync(log) ? (await readFile(log, 'utf8')).split('\n').filter(Boolean) : [];
};

function install(ws: string, body: Record<string, unknown>, headers: Record<string, string> = { prefer: 'wait=20' }) {
  return stack.call('POST', `/workspaces/${ws}/plugins`, { token: org, body, headers });
}

/**
 * The operation's final state. `Prefer: wait` is a convenience with a 25 s cap: on a loaded machine
 * a queued install may still be running then (202), so follow its statusUrl, as clients do.
 */
async function finalStatus(res: { status: number; body: any }): Promise<string> {
  if (res.status !== 202) return res.status === 200 ? 'SUCCEEDED' : `HTTP ${res.status}`;
  for (let i = 0; i < 600; i++) {
    const op = (await stack.call('GET', res.body.statusUrl, { token: org })).body;
    if (op.status !== 'RUNNING') return op.status;
    await new Promise((r) => setTimeout(r, 250));
  }
  return 'RUNNING';
}

/** GitHub serves a repo at a ref as one top-level directory `<repo>-<ref>/`. */
function serveRepo(repo: string, ref: string, files: Record<string, string>) {
  codeload.set(repo, ref, () => tarGz(pluginEntries(files, `${repo.split('/')[1]}-${ref}`)));
}

beforeAll(() => codeload.start());
afterAll(() => codeload.stop());

const stack = useLocalStack(() => ({
  GITHUB_CODELOAD_URL: codeload.url,
  // The restart fails on one workspace only ({workspaceId} arrives shell-quoted).
  PLUGIN_RESTART_COMMAND: `${LOCAL_RESTART_COMMAND} && test {workspaceId} != w-norestart`,
}));

beforeAll(async () => {
  for (const [id, instanceId] of Object.entries(INSTANCES)) {
    await stack.call('PUT', `/admin/workspaces/${id}`, { token: stack.adminToken, body: { orgId: 'acme', runtime: 'claude-code', instanceId } });
  }
  await stack.call('PUT', '/admin/workspaces/w-ext', { token: stack.adminToken, body: { orgId: 'acme', runtime: 'external' } });
  org = (await stack.call('POST', '/admin/orgs/acme/tokens', { token: stack.adminToken })).body.token;
});

describe('installing from the registry', () => {
  it('installs a sample plugin, restarts once and lists it with its sha256', async () => {
    const res = await install('w1', { source: 'local://code-review-rules' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'installed', plugin: 'code-review-rules', source: 'local://code-review-rules' });
    expect(await readFile(join(pluginDir('w1', 'code-review-rules'), 'rules', 'review.md'), 'utf8')).toContain('Reviewing a change');
    const restarts = await restartLines('w1');
    expect(restarts).toHaveLength(1);
    expect(restarts[0]).toContain('w1');
    const listed = await stack.call('GET', '/workspaces/w1/plugins', { token: org });
    expect(listed.body).toEqual([
      expect.objectContaining({ name: 'code-review-rules', version: '1.2.0', sha256: res.body.sha256, supported_on_runtime: true }),
    ]);
  });

  it('answers 202 with a status URL without Prefer, and the operation shows every step', { timeout: 90_000 }, async () => {
    const res = await install('w1', { source: 'hello-skill' }, {});
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'installing', operationId: expect.any(String) });
    let op = (await stack.call('GET', res.body.statusUrl, { token: org })).body;
    for (let i = 0; i < OPERATION_POLLS && op.status === 'RUNNING'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      op = (await stack.call('GET', res.body.statusUrl, { token: org })).body;
    }
    expect(op).toMatchObject({ status: 'SUCCEEDED', kind: 'install', plugin: 'hello-skill', workspaceId: 'w1' });
    expect(op.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual([
      'Stage:SUCCEEDED',
      'CheckAllowlist:SUCCEEDED',
      'Deliver:SUCCEEDED',
      'Restart:SUCCEEDED',
      'VerifyHealth:SUCCEEDED',
      'Record:SUCCEEDED',
    ]);
  });

  it('returns the same operation for a repeated Idempotency-Key', async () => {
    const headers = { 'idempotency-key': 'same-key-1' };
    const first = await install('w2', { source: 'hello-skill' }, headers);
    const second = await install('w2', { source: 'hello-skill' }, { ...headers, prefer: 'wait=20' });
    expect(second.body.operationId).toBe(first.body.operationId);
    const ops = await stack.call('GET', '/operations?workspaceId=w2&limit=50', { token: stack.adminToken });
    expect(ops.body.filter((o: { operationId: string }) => o.operationId === first.body.operationId)).toHaveLength(1);
  });
});

describe('updating a plugin', () => {
  it('replaces a changed version atomically, keeping the old one in .previous', async () => {
    serveRepo('acme/tool', 'v1', { 'plugin.yaml': 'name: tool\nversion: 1.0.0\n', 'rules/a.md': 'one\n', 'rules/old.md': 'gone in v2\n' });
    serveRepo('acme/tool', 'v2', { 'plugin.yaml': 'name: tool\nversion: 2.0.0\n', 'rules/a.md': 'two\n' });
    expect((await install('w3', { source: 'github://acme/tool#v1' })).status).toBe(200);
    expect((await install('w3', { source: 'github://acme/tool#v2' })).status).toBe(200);
    expect(await readFile(join(pluginDir('w3', 'tool'), 'rules', 'a.md'), 'utf8')).toBe('two\n');
    expect(existsSync(join(pluginDir('w3', 'tool'), 'rules', 'old.md'))).toBe(false);
    expect(await readFile(join(pluginDir('w3', '.previous'), 'tool', 'rules', 'a.md'), 'utf8')).toBe('one\n');
    const listed = (await stack.call('GET', '/workspaces/w3/plugins', { token: org })).body;
    expect(listed).toEqual([expect.objectContaining({ name: 'tool', version: '2.0.0', source: 'github://acme/tool#v2' })]);
  });

  it('skips the restart when only SKILL.md contents changed, and when asked to', async () => {
    serveRepo('acme/skills', 'v1', { 'plugin.yaml': 'skills: [s1]\n', 'skills/s1/SKILL.md': '# s1\n' });
    serveRepo('acme/skills', 'v2', { 'plugin.yaml': 'skills: [s1]\n', 'skills/s1/SKILL.md': '# s1, reworded\n' });
    expect((await install('w4', { source: 'github://acme/skills#v1' })).status).toBe(200);
    const before = (await restartLines('w4')).length;
    expect((await install('w4', { source: 'github://acme/skills#v2' })).status).toBe(200);
    expect(await restartLines('w4')).toHaveLength(before);
    expect((await install('w4', { source: 'local://code-review-rules', restart: false })).status).toBe(200);
    expect(await restartLines('w4')).toHaveLength(before);
  });
});

describe('hostile and broken archives', () => {
  const good = { 'plugin.yaml': 'name: victim\nversion: 1.0.0\n', 'rules/r.md': 'original\n' };
  const top = 'victim-bad';
  const attacks: Array<[string, () => Buffer | Promise<Buffer> | NodeJS.ReadableStream, number, string]> = [
    [
      'a ../ escape',
      () =>
        tarGz([
          { name: `${top}/`, type: 'directory' },
          { name: `${top}/../../escape.sh`, content: 'echo pwned\n' },
        ]),
      422,
      'invalid_archive',
    ],
    [
      'an absolute path',
      () =>
        tarGz([
          { name: `${top}/`, type: 'directory' },
          { name: '/etc/cron.d/evil', content: 'x\n' },
        ]),
      422,
      'invalid_archive',
    ],
    [
      'a device entry',
      () =>
        tarGz([
          { name: `${top}/a.md`, content: 'a' },
          { name: `${top}/null`, type: 'character-device' },
        ]),
      422,
      'invalid_archive',
    ],
    ['a gzip bomb', () => gzipBomb({ inflatedBytes: 1024 * 1024 * 1024, name: `${top}/bomb.bin` }).stream, 413, 'plugin_too_large'],
    [
      '20 000 tiny files',
      () =>
        tarGzStream(
          (function* () {
            for (let i = 0; i < 20_000; i++) yield { name: `${top}/f/${i}.md`, content: `${i}\n` };
          })(),
        ),
      413,
      'plugin_too_large',
    ],
    ['101 MiB of files', () => bigArchive(101 * 1024 * 1024), 413, 'plugin_too_large'],
    ['bad YAML', () => tarGz(pluginEntries({ 'plugin.yaml': 'name: [unclosed\n', 'a.md': 'a' }, top)), 422, 'manifest_invalid'],
    [
      'a wrong declared sha256',
      () => tarGz(pluginEntries({ 'plugin.yaml': `name: victim\nsha256: ${'0'.repeat(64)}\n`, 'a.md': 'a' }, top)),
      422,
      'integrity_mismatch',
    ],
    ['truncated gzip', async () => (await tarGz(pluginEntries({ 'a.md': 'x'.repeat(50_000) }, top))).subarray(0, 200), 422, 'invalid_archive'],
  ];

  beforeAll(async () => {
    serveRepo('acme/victim', 'v1', good);
    expect((await install('w5', { source: 'github://acme/victim#v1' })).status).toBe(200);
  });

  for (const [attack, body, status, code] of attacks) {
    it(`rejects ${attack} with ${status} ${code}, leaving the installed version untouched`, async () => {
      const ref = `bad-${attack.replace(/[^a-z0-9]+/gi, '-')}`;
      codeload.set('acme/victim', ref, body as never);
      const res = await install('w5', { source: `github://acme/victim#${ref}` });
      expect(res.status).toBe(status);
      expect(res.body.code).toBe(code);
      expect(JSON.stringify(res.body)).not.toMatch(/stack|at \w+ \(/);
      expect(await readFile(join(pluginDir('w5', 'victim'), 'rules', 'r.md'), 'utf8')).toBe('original\n');
      expect(await readdir(pluginDir('w5', 'victim'), { recursive: true })).toEqual(expect.arrayContaining(['plugin.yaml', 'rules/r.md']));
      const instanceRoot = join(stack.localDir, 'instances', INSTANCES.w5!);
      expect((await readdir(instanceRoot, { recursive: true })).filter((p) => /escape|evil|bomb/.test(String(p)))).toEqual([]);
      const listed = (await stack.call('GET', '/workspaces/w5/plugins', { token: org })).body;
      expect(listed).toEqual([expect.objectContaining({ name: 'victim', version: '1.0.0' })]);
    }, 120_000);
  }

  it('rejects a request sha256 that does not match the content hash', async () => {
    const res = await install('w5', { source: 'github://acme/victim#v1', sha256: 'f'.repeat(64) });
    expect(res).toMatchObject({ status: 422, body: { code: 'integrity_mismatch' } });
  });

  it('drops symlinks and hardlinks, installs the rest and reports them as warnings', { timeout: 90_000 }, async () => {
    const entries: FixtureEntry[] = [
      ...pluginEntries({ 'plugin.yaml': 'name: linky\n', 'a.md': 'a\n' }, 'linky-v1'),
      { name: 'linky-v1/passwd', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'linky-v1/shadow', type: 'link', linkname: 'linky-v1/a.md' },
    ];
    codeload.set('acme/linky', 'v1', () => tarGz(entries));
    const res = await install('w5', { source: 'github://acme/linky#v1' }, {});
    let op = (await stack.call('GET', res.body.statusUrl, { token: org })).body;
    for (let i = 0; i < OPERATION_POLLS && op.status === 'RUNNING'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      op = (await stack.call('GET', res.body.statusUrl, { token: org })).body;
    }
    expect(op.status).toBe('SUCCEEDED');
    expect(op.warnings.join('\n')).toMatch(/passwd/);
    expect(op.warnings.join('\n')).toMatch(/shadow/);
    expect(await readdir(pluginDir('w5', 'linky'))).toEqual(expect.arrayContaining(['a.md', 'plugin.yaml']));
    expect(existsSync(join(pluginDir('w5', 'linky'), 'passwd'))).toBe(false);
    expect(existsSync(join(pluginDir('w5', 'linky'), 'shadow'))).toBe(false);
  });

  it('installs a 20 MiB plugin streamed from the source', async () => {
    codeload.set('acme/big', 'v1', () =>
      tarGzStream([
        { name: 'big-v1/', type: 'directory' },
        ...Array.from({ length: 20 }, (_, i) => ({ name: `big-v1/data/${i}.txt`, content: 'y'.repeat(1024 * 1024) })),
      ]),
    );
    const res = await install('w5', { source: 'github://acme/big#v1' });
    expect(res.status).toBe(200);
    expect(await readdir(join(pluginDir('w5', 'big'), 'data'))).toHaveLength(20);
  });
});

describe('synchronous rejections', () => {
  it('rejects an unknown scheme with the available schemes', async () => {
    const res = await install('w1', { source: 'ftp://x/y' });
    expect(res).toMatchObject({ status: 400, body: { code: 'invalid_source', available_schemes: ['github', 'local'] } });
  });

  it('rejects a bad plugin name, an unpinned or option-like GitHub ref and a missing source', async () => {
    expect((await install('w1', { source: 'local://Bad Name' })).body.code).toBe('invalid_plugin_name');
    expect(await install('w1', { source: 'github://acme/tool' })).toMatchObject({ status: 422, body: { code: 'unpinned_source' } });
    expect((await install('w1', { source: 'github://acme/tool#--upload-pack=x' })).status).toBe(400);
    expect(await install('w1', {})).toMatchObject({ status: 400, body: { code: 'invalid_request' } });
  });

  it('rejects pushing to an external workspace with a hint to pull instead', async () => {
    const res = await install('w-ext', { source: 'hello-skill' });
    expect(res).toMatchObject({ status: 422, body: { code: 'external_runtime', hint: expect.stringContaining('download') } });
  });

  it('answers 404 for a workspace that does not exist', async () => {
    const res = await stack.call('POST', '/workspaces/nowhere/plugins', { token: stack.adminToken, body: { source: 'hello-skill' } });
    expect(res).toMatchObject({ status: 404, body: { code: 'workspace_not_found' } });
  });
});

describe('failures while running', () => {
  it('reports a source the host does not have as 404 source_not_found', async () => {
    const res = await install('w1', { source: 'github://acme/missing#v1' });
    expect(res).toMatchObject({ status: 404, body: { code: 'source_not_found' } });
    expect((await install('w1', { source: 'local://no-such-plugin' })).status).toBe(404);
  });

  it("refuses a plugin missing from the org's allowlist, and allows it again once the list is empty", async () => {
    const put = (plugins: string[]) => stack.call('PUT', '/orgs/acme/plugins/allowlist', { token: org, body: { plugins, enabled_by: 'e2e' } });
    expect((await put(['code-review-rules'])).body).toMatchObject({ allow_all: false });
    const res = await install('w2', { source: 'local://safe-shell-hook' });
    expect(res).toMatchObject({ status: 403, body: { code: 'plugin_not_allowed', error: 'plugin "safe-shell-hook" is not in the org allowlist' } });
    expect(existsSync(pluginDir('w2', 'safe-shell-hook'))).toBe(false);
    await put([]);
    expect((await install('w2', { source: 'local://safe-shell-hook' })).status).toBe(200);
  });

  it('reports a stopped instance as 503 workspace_unreachable', async () => {
    const admin = { token: stack.adminToken };
    expect((await stack.call('POST', `/admin/local/instances/${INSTANCES['w-stop']}/stop`, admin)).status).toBe(200);
    const res = await install('w-stop', { source: 'hello-skill' });
    expect(res).toMatchObject({ status: 503, body: { code: 'workspace_unreachable' } });
    await stack.call('POST', `/admin/local/instances/${INSTANCES['w-stop']}/start`, admin);
    expect((await install('w-stop', { source: 'hello-skill' })).status).toBe(200);
  });
});

describe('a restart that fails after the host changed', () => {
  it('fails the operation but records what the host has, so the plugin can still be removed', async () => {
    const installed = await install('w-norestart', { source: 'hello-skill' });
    expect(installed).toMatchObject({ status: 502, body: { code: 'delivery_failed' } });
    expect(existsSync(pluginDir('w-norestart', 'hello-skill'))).toBe(true);
    const listed = (await stack.call('GET', '/workspaces/w-norestart/plugins', { token: org })).body as Array<{ name: string }>;
    expect(listed.map((p) => p.name)).toEqual(['hello-skill']);

    const removed = await stack.call('DELETE', '/workspaces/w-norestart/plugins/hello-skill', { token: org, headers: { prefer: 'wait=20' } });
    expect(removed).toMatchObject({ status: 502, body: { code: 'delivery_failed' } });
    expect(existsSync(pluginDir('w-norestart', 'hello-skill'))).toBe(false);
    expect((await stack.call('GET', '/workspaces/w-norestart/plugins', { token: org })).body).toEqual([]);
  });
});

describe('uninstalling', () => {
  it('removes the plugin, its skills and its record, then 404s a second time', async () => {
    expect((await install('w2', { source: 'local://hello-skill' })).status).toBe(200);
    const res = await stack.call('DELETE', '/workspaces/w2/plugins/hello-skill', { token: org, headers: { prefer: 'wait=20' } });
    expect(res).toMatchObject({ status: 200, body: { status: 'uninstalled', plugin: 'hello-skill' } });
    expect(existsSync(pluginDir('w2', 'hello-skill'))).toBe(false);
    const listed = (await stack.call('GET', '/workspaces/w2/plugins', { token: org })).body as Array<{ name: string }>;
    expect(listed.map((p) => p.name)).not.toContain('hello-skill');
    const again = await stack.call('DELETE', '/workspaces/w2/plugins/hello-skill', { token: org });
    expect(again).toMatchObject({ status: 404, body: { code: 'plugin_not_installed' } });
  });

  it('answers two concurrent uninstalls of one plugin with one operation, touching the host once', async () => {
    expect((await install('w3', { source: 'local://hello-skill' })).status).toBe(200);
    const restartsBefore = (await restartLines('w3')).length;
    const remove = () => stack.call('DELETE', '/workspaces/w3/plugins/hello-skill', { token: org, headers: { prefer: 'wait=20' } });
    const [first, second] = await Promise.all([remove(), remove()]);
    expect(first).toMatchObject({ status: 200, body: { status: 'uninstalled', plugin: 'hello-skill' } });
    expect(second).toMatchObject({ status: 200, body: { status: 'uninstalled', operationId: first.body.operationId } });
    expect(await restartLines('w3')).toHaveLength(restartsBefore + 1);
    const ops = (await stack.call('GET', '/operations?workspaceId=w3&limit=50', { token: stack.adminToken })).body as Array<{ kind: string; plugin: string }>;
    expect(ops.filter((op) => op.kind === 'uninstall' && op.plugin === 'hello-skill')).toHaveLength(1);
  });
});

describe('reading the registry', () => {
  it('lists registry plugins, filtered by runtime, and the source schemes', async () => {
    const all = (await stack.call('GET', '/plugins', { token: org })).body as Array<{ name: string; runtimes: string[] }>;
    expect(all.map((p) => p.name)).toEqual(['code-review-rules', 'hello-skill', 'safe-shell-hook']);
    expect(all[0]).toMatchObject({ version: '1.2.0', description: expect.any(String), author: 'Molecule Platform Team', tags: ['review', 'quality'] });
    const hermes = (await stack.call('GET', '/plugins?runtime=hermes', { token: org })).body as Array<{ name: string }>;
    expect(hermes.map((p) => p.name)).toEqual(['code-review-rules', 'hello-skill']);
    expect((await stack.call('GET', '/plugins/sources', { token: org })).body).toEqual({ schemes: ['github', 'local'] });
  });

  it('shows a workspace what suits its runtime', async () => {
    await stack.call('PUT', '/admin/workspaces/w-hermes', { token: stack.adminToken, body: { orgId: 'acme', runtime: 'hermes' } });
    const available = (await stack.call('GET', '/workspaces/w-hermes/plugins/available', { token: org })).body as Array<{ name: string }>;
    expect(available.map((p) => p.name)).not.toContain('safe-shell-hook');
    expect(available.map((p) => p.name)).toContain('hello-skill');
  });
});

describe('scheduled uninstalls', () => {
  it('uninstalls a plugin once its uninstallAfter has passed, when the cleanup runs', { timeout: 90_000 }, async () => {
    expect((await install('w3', { source: 'local://hello-skill', uninstallAfter: 'PT1S' })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_100));
    const summary = (await stack.call('POST', '/admin/cleanup/run', { token: stack.adminToken })).body;
    const started = summary.started.find((s: { workspaceId: string; name: string }) => s.workspaceId === 'w3' && s.name === 'hello-skill');
    expect(started).toMatchObject({ reason: 'uninstall_due', operationId: expect.any(String) });
    let op = (await stack.call('GET', `/workspaces/w3/plugins/operations/${started.operationId}`, { token: org })).body;
    for (let i = 0; i < OPERATION_POLLS && op.status === 'RUNNING'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      op = (await stack.call('GET', `/workspaces/w3/plugins/operations/${started.operationId}`, { token: org })).body;
    }
    expect(op).toMatchObject({ kind: 'uninstall', status: 'SUCCEEDED' });
    expect(existsSync(pluginDir('w3', 'hello-skill'))).toBe(false);
  });

  it('schedules an uninstall for a later time with DELETE ?at=', async () => {
    expect((await install('w3', { source: 'local://hello-skill' })).status).toBe(200);
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const res = await stack.call('DELETE', `/workspaces/w3/plugins/hello-skill?at=${encodeURIComponent(at)}`, { token: org });
    expect(res).toMatchObject({ status: 202, body: { status: 'scheduled', uninstallAt: at } });
    const listed = (await stack.call('GET', '/workspaces/w3/plugins', { token: org })).body as Array<{ name: string; uninstallAt: string }>;
    expect(listed.find((p) => p.name === 'hello-skill')?.uninstallAt).toBe(at);
    expect(existsSync(pluginDir('w3', 'hello-skill'))).toBe(true);
  });
});

describe('downloads for external workspaces', () => {
  it('stages the plugin and redirects to a presigned URL with the plugin headers', async () => {
    const wsToken = (await stack.call('POST', '/admin/workspaces/w-ext/tokens', { token: stack.adminToken })).body.token;
    const res = await stack.call('GET', '/workspaces/w-ext/plugins/hello-skill/download', { token: wsToken });
    expect(res.status).toBe(302);
    expect(res.headers.get('x-plugin-name')).toBe('hello-skill');
    expect(res.headers.get('x-plugin-sha256')).toMatch(/^[0-9a-f]{64}$/);
    const tarball = await fetch(res.headers.get('location')!);
    expect(tarball.status).toBe(200);
    expect(Buffer.from(await tarball.arrayBuffer()).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const mismatch = await stack.call('GET', '/workspaces/w-ext/plugins/other/download?source=local://hello-skill', { token: wsToken });
    expect(mismatch).toMatchObject({ status: 400, body: { resolved_name: 'hello-skill', requested_name: 'other' } });
  });

  it("refuses to hand out a plugin missing from the org's allowlist", async () => {
    const wsToken = (await stack.call('POST', '/admin/workspaces/w-ext/tokens', { token: stack.adminToken })).body.token;
    const put = (plugins: string[]) => stack.call('PUT', '/orgs/acme/plugins/allowlist', { token: org, body: { plugins, enabled_by: 'e2e' } });
    expect((await put(['code-review-rules'])).status).toBe(200);
    try {
      const res = await stack.call('GET', '/workspaces/w-ext/plugins/hello-skill/download', { token: wsToken });
      expect(res).toMatchObject({ status: 403, body: { code: 'plugin_not_allowed', error: 'plugin "hello-skill" is not in the org allowlist' } });
      expect((await stack.call('GET', '/workspaces/w-ext/plugins/code-review-rules/download', { token: wsToken })).status).toBe(302);
    } finally {
      await put([]);
    }
  });
});

describe('concurrency', () => {
  it('applies queued updates of one plugin on one workspace in the order they were accepted: the last one asked for stays', async () => {
    const versions = ['1.0.0', '2.0.0', '3.0.0', '4.0.0', '5.0.0', '6.0.0'];
    // The first versions are the biggest, so they stage last: arriving at the host is no guide to order.
    for (const [i, v] of versions.entries()) {
      serveRepo('acme/ordered', `v${v}`, {
        'plugin.yaml': `name: ordered\nversion: ${v}\n`,
        'rules/r.md': `${v}\n${'x'.repeat((versions.length - i) * 400_000)}`,
      });
    }
    const accepted = [];
    for (const v of versions) accepted.push(await install('w5', { source: `github://acme/ordered#v${v}` }, {}));
    expect(accepted.map((r) => r.status)).toEqual(Array(versions.length).fill(202));
    expect(await Promise.all(accepted.map(finalStatus))).toEqual(Array(versions.length).fill('SUCCEEDED'));
    expect((await readFile(join(pluginDir('w5', 'ordered'), 'rules', 'r.md'), 'utf8')).split('\n')[0]).toBe('6.0.0');
    const listed = (await stack.call('GET', '/workspaces/w5/plugins', { token: org })).body as Array<{ name: string; version: string }>;
    expect(listed.find((p) => p.name === 'ordered')?.version).toBe('6.0.0');
    // Each reached the host after the one accepted before it.
    const delivered = [];
    for (const res of accepted) {
      const op = (await stack.call('GET', res.body.statusUrl, { token: org })).body;
      delivered.push(op.steps.find((s: { name: string }) => s.name === 'Deliver').endedAt as string);
    }
    expect([...delivered].sort()).toEqual(delivered);
  }, 300_000);

  it('runs 20 concurrent installs across 5 workspaces, all succeeding, with rows matching the hosts', async () => {
    const names = ['code-review-rules', 'hello-skill', 'safe-shell-hook'];
    const workspaces = ['w1', 'w2', 'w3', 'w4', 'w5'];
    for (const [i, ws] of workspaces.entries()) serveRepo(`acme/conc-${i}`, 'v1', { 'plugin.yaml': `name: conc-${i}\n`, 'a.md': ws });
    const jobs = Array.from({ length: 20 }, (_, i) => {
      const ws = workspaces[i % 5]!;
      const source = i % 4 === 3 ? `github://acme/conc-${i % 5}#v1` : `local://${names[i % 3]}`;
      return install(ws, { source }, { prefer: 'wait=25' });
    });
    const results = await Promise.all(jobs);
    expect(await Promise.all(results.map(finalStatus))).toEqual(Array(20).fill('SUCCEEDED'));
    for (const ws of workspaces) {
      const listed = ((await stack.call('GET', `/workspaces/${ws}/plugins`, { token: org })).body as Array<{ name: string }>).map((p) => p.name).sort();
      const onHost = (await readdir(join(stack.localDir, 'instances', INSTANCES[ws]!, 'configs', 'plugins'))).filter((n) => !n.startsWith('.')).sort();
      expect(onHost).toEqual(listed);
    }
  }, 300_000);
});
