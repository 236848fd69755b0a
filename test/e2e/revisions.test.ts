import { existsSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useLocalStack } from '../support/local-stack.js';
import { FakeCodeload } from '../support/codeload.js';
import { pluginEntries, tarGz } from '../support/archives.js';

/**
 * SPEC §9 end to end through `npm start`'s process: revisions, rollback byte for byte, the health
 * gate against the emulated agent (which refuses a plugin whose hooks/hooks.json or .mcp.json is
 * not JSON), and plans that change nothing on the host. Versions of one plugin come from a
 * stand-in for codeload.github.com, one ref per version.
 */
const codeload = new FakeCodeload();
let org = '';

const INSTANCES: Record<string, string> = {
  r1: 'i-0e2e0000000000a01',
  r2: 'i-0e2e0000000000a02',
  r3: 'i-0e2e0000000000a03',
  r4: 'i-0e2e0000000000a04',
};
const configDir = (ws: string) => join(stack.localDir, 'instances', INSTANCES[ws]!, 'configs');
const pluginDir = (ws: string, name: string) => join(configDir(ws), 'plugins', name);
const restartLines = async (ws: string) => {
  const log = join(stack.localDir, 'instances', INSTANCES[ws]!, 'var', 'log', 'molecule-restarts.log');
  return existsSync(log) ? (await readFile(log, 'utf8')).split('\n').filter(Boolean) : [];
};

/** Every file under a directory, by relative path, with its bytes. */
async function filesUnder(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[relative(dir, path)] = await readFile(path, 'utf8');
  }
  return out;
}

const V1 = {
  'plugin.yaml': 'name: hooks-kit\nversion: 1.0.0\n',
  'rules/style.md': 'Use short sentences.\n',
  'hooks/hooks.json': '{"hooks": {}}\n',
};
const V2 = {
  'plugin.yaml': 'name: hooks-kit\nversion: 2.0.0\n',
  'rules/style.md': 'Use short sentences. Prefer active voice.\n',
  'rules/naming.md': 'Name things after what they are.\n',
  'hooks/hooks.json': '{"hooks": {"PreToolUse": []}}\n',
};
/** An update whose hooks the agent cannot load. */
const V3_BROKEN = {
  'plugin.yaml': 'name: hooks-kit\nversion: 3.0.0\n',
  'rules/style.md': 'Use short sentences.\n',
  'hooks/hooks.json': '{"hooks": {"PreToolUse": [}\n',
};

function serve(repo: string, ref: string, files: Record<string, string>) {
  codeload.set(repo, ref, () => tarGz(pluginEntries(files, `${repo.split('/')[1]}-${ref}`)));
}

beforeAll(() => {
  codeload.start();
  serve('acme/hooks-kit', 'v1', V1);
  serve('acme/hooks-kit', 'v2', V2);
  serve('acme/hooks-kit', 'v3', V3_BROKEN);
  serve('acme/broken-mcp', 'v1', { 'plugin.yaml': 'name: broken-mcp\nversion: 1.0.0\n', '.mcp.json': '{not json', 'rules/x.md': 'x\n' });
  serve('acme/docs-kit', 'v1', {
    'plugin.yaml': 'name: docs-kit\nversion: 1.0.0\n',
    'skills/guide/SKILL.md': '---\nname: guide\ndescription: a guide\n---\nOne.\n',
  });
  serve('acme/docs-kit', 'v2', {
    'plugin.yaml': 'name: docs-kit\nversion: 1.0.0\n',
    'skills/guide/SKILL.md': '---\nname: guide\ndescription: a guide\n---\nTwo.\n',
  });
});
afterAll(() => codeload.stop());

const stack = useLocalStack(() => ({
  GITHUB_CODELOAD_URL: codeload.url,
  // The gate gives up after 4 s here (two checks), so an unhealthy agent fails fast.
  PLUGIN_HEALTH_TIMEOUT: '4s',
}));

beforeAll(async () => {
  for (const [id, instanceId] of Object.entries(INSTANCES)) {
    await stack.call('PUT', `/admin/workspaces/${id}`, { token: stack.adminToken, body: { orgId: 'rev', runtime: 'claude-code', instanceId } });
  }
  org = (await stack.call('POST', '/admin/orgs/rev/tokens', { token: stack.adminToken })).body.token;
});

const WAIT = { prefer: 'wait=25' };
const install = (ws: string, body: Record<string, unknown>) => stack.call('POST', `/workspaces/${ws}/plugins`, { token: org, body, headers: WAIT });
const rollback = (ws: string, name: string, body?: Record<string, unknown>) =>
  stack.call('POST', `/workspaces/${ws}/plugins/${name}/rollback`, { token: org, ...(body ? { body } : {}), headers: WAIT });
const revisions = (ws: string, name: string) => stack.call('GET', `/workspaces/${ws}/plugins/${name}/revisions`, { token: org });
const operation = (ws: string, id: string) => stack.call('GET', `/workspaces/${ws}/plugins/operations/${id}`, { token: org });

describe('revisions and rollback', () => {
  it('records each delivery as a revision with its files, newest first, one active', async () => {
    const first = await install('r1', { source: 'github://acme/hooks-kit#v1' });
    expect(first.status).toBe(200);
    const second = await install('r1', { source: 'github://acme/hooks-kit#v2' });
    expect(second.status).toBe(200);

    const res = await revisions('r1', 'hooks-kit');
    expect(res.status).toBe(200);
    expect(res.body.plugin).toBe('hooks-kit');
    expect(res.body.revisions.map((r: any) => [r.revision, r.version, r.status, r.kept])).toEqual([
      [2, '2.0.0', 'active', true],
      [1, '1.0.0', 'superseded', true],
    ]);
    const [newest] = res.body.revisions;
    expect(newest).toMatchObject({ sha256: second.body.sha256, source: 'github://acme/hooks-kit#v2', operationId: second.body.operationId });
    expect(newest.files.map((f: any) => f.path)).toEqual(['hooks/hooks.json', 'plugin.yaml', 'rules/naming.md', 'rules/style.md']);
    expect(newest.files.find((f: any) => f.path === 'rules/naming.md').size).toBe(Buffer.byteLength(V2['rules/naming.md']));
    expect((await operation('r1', second.body.operationId)).body.revision).toBe(2);
  });

  it('rolls back to the revision before the active one, byte for byte, and says so', async () => {
    const restartsBefore = (await restartLines('r1')).length;
    const res = await rollback('r1', 'hooks-kit');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'rolled_back', plugin: 'hooks-kit', revision: 1 });

    expect(await filesUnder(pluginDir('r1', 'hooks-kit'))).toEqual(V1);
    expect((await restartLines('r1')).length).toBe(restartsBefore + 1);
    const listed = (await revisions('r1', 'hooks-kit')).body.revisions.map((r: any) => [r.revision, r.status]);
    expect(listed).toEqual([
      [2, 'rolled_back'],
      [1, 'active'],
    ]);
    const installed = (await stack.call('GET', '/workspaces/r1/plugins', { token: org })).body;
    expect(installed).toEqual([expect.objectContaining({ name: 'hooks-kit', version: '1.0.0', sha256: res.body.sha256 })]);
    const op = (await operation('r1', res.body.operationId)).body;
    expect(op).toMatchObject({ kind: 'rollback', status: 'SUCCEEDED', revision: 1 });
    expect(op.steps.map((s: any) => [s.name, s.status])).toEqual([
      ['Stage', 'SUCCEEDED'],
      ['CheckAllowlist', 'SUCCEEDED'],
      ['Deliver', 'SUCCEEDED'],
      ['Restart', 'SUCCEEDED'],
      ['VerifyHealth', 'SUCCEEDED'],
      ['Record', 'SUCCEEDED'],
    ]);
  });

  it('rolls forward to a named revision', async () => {
    const res = await rollback('r1', 'hooks-kit', { revision: 2 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'rolled_back', revision: 2 });
    expect(await filesUnder(pluginDir('r1', 'hooks-kit'))).toEqual(V2);
  });

  it('answers a rollback it cannot do synchronously, with the documented codes', async () => {
    expect((await rollback('r1', 'never-installed')).body).toMatchObject({ code: 'plugin_not_installed' });
    expect((await rollback('r1', 'never-installed')).status).toBe(404);
    const missing = await rollback('r1', 'hooks-kit', { revision: 99 });
    expect([missing.status, missing.body.code, missing.body.revision]).toEqual([404, 'revision_not_found', 99]);
    expect((await rollback('r1', 'hooks-kit', { revision: 0 })).body.code).toBe('invalid_request');
    await install('r2', { source: 'github://acme/hooks-kit#v1' });
    const only = await rollback('r2', 'hooks-kit');
    expect([only.status, only.body.code]).toEqual([409, 'no_previous_revision']);
    expect((await revisions('r1', 'never-installed')).status).toBe(404);
  });

  it('stages a revision whose tarball is gone again from its source, and refuses when the source changed', async () => {
    // r2 has revision 1 (v1); install v2, drop the kept tarballs, and roll back: staged again from v1.
    await install('r2', { source: 'github://acme/hooks-kit#v2' });
    await dropKeptTarballs();
    const again = await rollback('r2', 'hooks-kit');
    expect(again.status).toBe(200);
    expect(await filesUnder(pluginDir('r2', 'hooks-kit'))).toEqual(V1);

    await dropKeptTarballs();
    serve('acme/hooks-kit', 'v2', { ...V2, 'rules/style.md': 'rewritten under the same ref\n' });
    const expired = await rollback('r2', 'hooks-kit', { revision: 2 });
    expect([expired.status, expired.body.code]).toEqual([410, 'revision_expired']);
    expect(await filesUnder(pluginDir('r2', 'hooks-kit'))).toEqual(V1);
    serve('acme/hooks-kit', 'v2', V2);
  });
});

/** Deletes every kept tarball from the local S3's files, as if they had expired. */
async function dropKeptTarballs(): Promise<void> {
  for (const entry of await readdir(stack.localDir, { recursive: true, withFileTypes: true })) {
    if (entry.parentPath.split('/').includes('revisions')) await rm(join(entry.parentPath, entry.name), { recursive: true, force: true });
  }
}

describe('the health gate', () => {
  it('undoes an update whose hooks break the agent: the earlier revision stays active, byte for byte', async () => {
    await install('r3', { source: 'github://acme/hooks-kit#v1' });
    const restartsBefore = (await restartLines('r3')).length;
    const res = await install('r3', { source: 'github://acme/hooks-kit#v3' });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ code: 'health_check_failed', rolledBack: true });
    expect(res.body.output.join('\n')).toContain('hooks-kit');

    expect(await filesUnder(pluginDir('r3', 'hooks-kit'))).toEqual(V1);
    // Restarted into the broken version, then again into the one put back.
    expect((await restartLines('r3')).length).toBe(restartsBefore + 2);
    expect((await revisions('r3', 'hooks-kit')).body.revisions.map((r: any) => [r.revision, r.version, r.status])).toEqual([
      [2, '3.0.0', 'rolled_back'],
      [1, '1.0.0', 'active'],
    ]);
    const installed = (await stack.call('GET', '/workspaces/r3/plugins', { token: org })).body;
    expect(installed).toEqual([expect.objectContaining({ name: 'hooks-kit', version: '1.0.0' })]);
    const op = (await operation('r3', res.body.operationId)).body;
    expect(op.warnings).toContain('invalid_json: hooks/hooks.json');
    expect(op.error).toMatchObject({ code: 'health_check_failed', httpStatus: 502, rolledBack: true });
    expect(op.steps.find((s: any) => s.name === 'VerifyHealth')).toMatchObject({ status: 'FAILED', error: { code: 'health_check_failed' } });
    // The workspace is free again: the next change goes through.
    expect((await install('r3', { source: 'github://acme/hooks-kit#v2' })).status).toBe(200);
  });

  it('removes a first install that breaks the agent, leaving nothing behind', async () => {
    const res = await install('r4', { source: 'github://acme/broken-mcp#v1' });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ code: 'health_check_failed', rolledBack: true });
    expect(existsSync(pluginDir('r4', 'broken-mcp'))).toBe(false);
    expect((await stack.call('GET', '/workspaces/r4/plugins', { token: org })).body).toEqual([]);
    expect((await revisions('r4', 'broken-mcp')).body.revisions.map((r: any) => r.status)).toEqual(['rolled_back']);
  });

  it('skips the gate when asked: the broken plugin stays, as the caller chose', async () => {
    const res = await install('r4', { source: 'github://acme/broken-mcp#v1', healthCheck: false });
    expect(res.status).toBe(200);
    expect(existsSync(join(pluginDir('r4', 'broken-mcp'), '.mcp.json'))).toBe(true);
    const op = (await operation('r4', res.body.operationId)).body;
    expect(op.steps.find((s: any) => s.name === 'VerifyHealth')).toMatchObject({ status: 'SKIPPED' });
    await stack.call('DELETE', '/workspaces/r4/plugins/broken-mcp', { token: org, headers: WAIT });
  });
});

describe('plans', () => {
  it('says exactly which files an update adds, removes and changes, and that it restarts, without touching the host', async () => {
    await install('r4', { source: 'github://acme/hooks-kit#v2' });
    const before = await filesUnder(pluginDir('r4', 'hooks-kit'));
    const restartsBefore = (await restartLines('r4')).length;

    const res = await install('r4', { source: 'github://acme/hooks-kit#v1', dryRun: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'planned',
      plugin: 'hooks-kit',
      from: { version: '2.0.0', revision: 1 },
      to: { version: '1.0.0' },
      files: { added: [], removed: ['rules/naming.md'], changed: ['hooks/hooks.json', 'plugin.yaml', 'rules/style.md'] },
      restart: true,
      allowed: true,
    });
    expect(await filesUnder(pluginDir('r4', 'hooks-kit'))).toEqual(before);
    expect((await restartLines('r4')).length).toBe(restartsBefore);
    const op = (await operation('r4', res.body.operationId)).body;
    expect(op).toMatchObject({ kind: 'plan', status: 'SUCCEEDED', plan: { status: 'planned' } });
    expect(op.steps.map((s: any) => s.name)).toEqual(['Stage', 'CheckAllowlist', 'Plan']);
  });

  it('plans a SKILL.md-only edit without a restart, and a first install as every file added', async () => {
    await install('r4', { source: 'github://acme/docs-kit#v1' });
    const edit = await install('r4', { source: 'github://acme/docs-kit#v2', dryRun: true });
    expect(edit.body).toMatchObject({ files: { added: [], removed: [], changed: ['skills/guide/SKILL.md'] }, restart: false });
    const fresh = await install('r2', { source: 'github://acme/docs-kit#v1', dryRun: true });
    expect(fresh.body).toMatchObject({ from: null, files: { added: ['plugin.yaml', 'skills/guide/SKILL.md'], removed: [], changed: [] }, restart: true });
    expect(existsSync(pluginDir('r2', 'docs-kit'))).toBe(false);
  });

  it('plans a refused install as allowed: false with what refuses it', async () => {
    await stack.call('PUT', '/orgs/rev/plugins/allowlist', { token: org, body: { plugins: ['hooks-kit'], enabled_by: 'test' } });
    try {
      const res = await install('r2', { source: 'github://acme/docs-kit#v1', dryRun: true });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'planned', allowed: false, blockedBy: 'plugin_not_allowed' });
    } finally {
      await stack.call('PUT', '/orgs/rev/plugins/allowlist', { token: org, body: { plugins: [], enabled_by: 'test' } });
    }
  });
});
