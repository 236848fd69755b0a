import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useLocalStack } from '../support/local-stack.js';
import { CLI_TEST_TIMEOUT_MS, runCli } from '../support/cli.js';

/**
 * SPEC §12 end to end through `npm start`'s process: what a verify reports of a host that drifted
 * from the records (an edited file, a deleted plugin dir, an unknown plugin, stale `.staging`
 * debris, each exactly), what each repair mode changes (and that nothing else on the host does),
 * a workspace rediscovered after its rows were purged, a host with 10 000 files, a host that is
 * down, and the sweep on the cleanup's schedule. One stack of its own: the sweep verifies every
 * workspace it knows, which a shared stack's other files must not see.
 */
// The gate gives up after 4 s here, so a repair the agent cannot take fails fast.
const stack = useLocalStack({ PLUGIN_HEALTH_TIMEOUT: '4s' });
const INSTANCES: Record<string, string> = {
  'd-sync': 'i-0d1f7000000000a01',
  'd-drift': 'i-0d1f7000000000a02',
  'd-purged': 'i-0d1f7000000000a03',
  'd-many': 'i-0d1f7000000000a04',
  'd-down': 'i-0d1f7000000000a05',
  'd-gate': 'i-0d1f7000000000a07',
  'd-eic': 'i-0d1f7000000000a08',
  'd-cli': 'i-0d1f7000000000a09',
};
const SWEPT_INSTANCE = 'i-0d1f7000000000a06';
const REPO_PLUGINS = new URL('../../plugins/', import.meta.url).pathname;
const WAIT = { prefer: 'wait=25' };
let org = '';

const instanceRoot = (ws: string) => join(stack.localDir, 'instances', INSTANCES[ws] ?? SWEPT_INSTANCE);
const pluginsDir = (ws: string) => join(instanceRoot(ws), 'configs', 'plugins');
const restarts = async (ws: string) => {
  const log = join(instanceRoot(ws), 'var', 'log', 'molecule-restarts.log');
  return existsSync(log) ? (await readFile(log, 'utf8')).split('\n').filter(Boolean).length : 0;
};

/** Every entry under the instance's config dir: type, mode, size and content hash, by relative path. */
async function hostTree(ws: string): Promise<Record<string, string>> {
  const base = join(instanceRoot(ws), 'configs');
  const out: Record<string, string> = {};
  for (const entry of await readdir(base, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path);
    const bytes = entry.isFile()
      ? createHash('sha256')
          .update(await readFile(path))
          .digest('hex')
      : '';
    out[relative(base, path)] = `${entry.isDirectory() ? 'dir' : 'file'} ${info.mode.toString(8)} ${entry.isFile() ? info.size : ''} ${bytes}`;
  }
  return out;
}

/** The tree without the entries under any of these prefixes (what an operation was allowed to change). */
const without = (tree: Record<string, string>, ...prefixes: string[]) =>
  Object.fromEntries(Object.entries(tree).filter(([path]) => !prefixes.some((p) => path === p || path.startsWith(`${p}/`))));

/** Every file under a directory, by relative path, with its bytes. */
async function filesUnder(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out[relative(dir, join(entry.parentPath, entry.name))] = await readFile(join(entry.parentPath, entry.name), 'utf8');
  }
  return out;
}

const install = (ws: string, source: string) => stack.call('POST', `/workspaces/${ws}/plugins`, { token: org, body: { source }, headers: WAIT });
const verify = (ws: string) => stack.call('POST', `/workspaces/${ws}/plugins/verify`, { token: org, headers: WAIT });
const repair = (ws: string, body: Record<string, unknown>) => stack.call('POST', `/workspaces/${ws}/plugins/repair`, { token: org, body, headers: WAIT });
const operation = async (ws: string, id: string) => (await stack.call('GET', `/workspaces/${ws}/plugins/operations/${id}`, { token: org })).body;
const steps = (op: { steps: Array<{ name: string; status: string }> }) => op.steps.map((s) => [s.name, s.status]);

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

beforeAll(async () => {
  for (const [id, instanceId] of Object.entries(INSTANCES)) {
    const transport = id === 'd-eic' ? 'eic' : 'auto';
    await stack.call('PUT', `/admin/workspaces/${id}`, { token: stack.adminToken, body: { orgId: 'drift', runtime: 'claude-code', instanceId, transport } });
  }
  await stack.call('PUT', '/admin/workspaces/d-ext', { token: stack.adminToken, body: { orgId: 'drift', runtime: 'external' } });
  org = (await stack.call('POST', '/admin/orgs/drift/tokens', { token: stack.adminToken })).body.token;
});

describe('verify', () => {
  it('finds a host as recorded, over the same transport, and changes nothing on it', async () => {
    for (const name of ['code-review-rules', 'hello-skill']) expect((await install('d-sync', `local://${name}`)).status).toBe(200);
    const installed = (await stack.call('GET', '/workspaces/d-sync/plugins', { token: org })).body as Array<{ name: string; sha256: string }>;
    const before = await hostTree('d-sync');

    const res = await verify('d-sync');

    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: 'verified',
      operationId: expect.any(String),
      drift: false,
      plugins: installed.map((p) => ({
        name: p.name,
        state: 'ok',
        recorded: { version: expect.any(String), sha256: p.sha256 },
        found: expect.objectContaining({ sha256: p.sha256, source: `local://${p.name}` }),
      })),
      debris: [],
    });
    expect(await hostTree('d-sync')).toEqual(before);
    const op = await operation('d-sync', res.body.operationId);
    expect(op).toMatchObject({ kind: 'verify', status: 'SUCCEEDED', verify: res.body });
    expect(op.steps).toEqual([expect.objectContaining({ name: 'Inventory', status: 'SUCCEEDED', transport: 'ssm' })]);
  });

  it('reports an edited file, a deleted plugin dir, an unknown plugin and stale .staging debris, each exactly', async () => {
    for (const name of ['code-review-rules', 'hello-skill', 'safe-shell-hook']) expect((await install('d-drift', `local://${name}`)).status).toBe(200);
    const recorded = Object.fromEntries(
      ((await stack.call('GET', '/workspaces/d-drift/plugins', { token: org })).body as Array<{ name: string; version: string; sha256: string }>).map((p) => [
        p.name,
        { version: p.version, sha256: p.sha256 },
      ]),
    );
    const plugins = pluginsDir('d-drift');
    await appendFile(join(plugins, 'code-review-rules', 'rules', 'review.md'), 'Edited on the host.\n');
    await rm(join(plugins, 'hello-skill'), { recursive: true });
    await mkdir(join(plugins, 'hand-made', 'rules'), { recursive: true });
    await writeFile(join(plugins, 'hand-made', 'rules', 'mine.md'), 'Copied in by hand.\n');
    await mkdir(join(plugins, '.staging', 'safe-shell-hook.20250101T000000000Z', 'hooks'), { recursive: true });
    await writeFile(join(plugins, '.staging', 'safe-shell-hook.20250101T000000000Z', 'hooks', 'hooks.json'), '{');
    const before = await hostTree('d-drift');

    const res = await verify('d-drift');

    expect(res.status).toBe(200);
    expect(res.body.drift).toBe(true);
    expect(res.body.debris).toEqual(['.staging/safe-shell-hook.20250101T000000000Z']);
    expect(res.body.plugins).toEqual([
      {
        name: 'code-review-rules',
        state: 'modified',
        recorded: recorded['code-review-rules'],
        found: expect.objectContaining({ sha256: expect.not.stringMatching(recorded['code-review-rules']!.sha256), version: '1.2.0' }),
        files: { added: [], removed: [], changed: ['rules/review.md'] },
      },
      { name: 'hand-made', state: 'unknown', found: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/), version: null, skills: [] } },
      { name: 'hello-skill', state: 'missing', recorded: recorded['hello-skill'] },
      {
        name: 'safe-shell-hook',
        state: 'ok',
        recorded: recorded['safe-shell-hook'],
        found: expect.objectContaining({ sha256: recorded['safe-shell-hook']!.sha256 }),
      },
    ]);
    expect(await hostTree('d-drift')).toEqual(before);
  });

  it('inventories over EC2 Instance Connect as over SSM', async () => {
    expect((await install('d-eic', 'local://code-review-rules')).status).toBe(200);
    await rm(join(pluginsDir('d-eic'), 'code-review-rules', 'rules', 'commits.md'));

    const res = await verify('d-eic');

    expect(res.body.plugins).toEqual([
      expect.objectContaining({ name: 'code-review-rules', state: 'modified', files: { added: [], removed: ['rules/commits.md'], changed: [] } }),
    ]);
    expect((await operation('d-eic', res.body.operationId)).steps).toEqual([
      expect.objectContaining({ name: 'Inventory', transport: expect.stringMatching(/^eic-/) }),
    ]);
  });

  it('refuses an external workspace and a repair it cannot parse, synchronously', async () => {
    const external = await stack.call('POST', '/workspaces/d-ext/plugins/verify', { token: org });
    expect([external.status, external.body.code]).toEqual([422, 'external_runtime']);
    const bad = await stack.call('POST', '/workspaces/d-sync/plugins/repair', { token: org, body: { mode: 'replace' } });
    expect([bad.status, bad.body.code]).toEqual([400, 'invalid_request']);
    expect((await stack.call('POST', '/workspaces/nowhere/plugins/verify', { token: stack.adminToken })).status).toBe(404);
  });
});

describe('repair', () => {
  it('reinstalls the modified and the missing plugin byte for byte, restarts once through the health gate, and changes nothing else', async () => {
    const restartsBefore = await restarts('d-drift');
    const before = await hostTree('d-drift');

    const res = await repair('d-drift', { mode: 'reinstall' });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'repaired', mode: 'reinstall', restarted: true, debris: [] });
    expect(res.body.plugins.map((p: { name: string; action: string }) => [p.name, p.action])).toEqual([
      ['code-review-rules', 'reinstalled'],
      ['hello-skill', 'reinstalled'],
    ]);
    for (const name of ['code-review-rules', 'hello-skill']) {
      expect(await filesUnder(join(pluginsDir('d-drift'), name)), name).toEqual(await filesUnder(join(REPO_PLUGINS, name)));
    }
    expect(await restarts('d-drift')).toBe(restartsBefore + 1);
    // Only the two plugins, their previous copies and markers changed.
    const touched = ['code-review-rules', 'hello-skill'].flatMap((n) => [`plugins/${n}`, `plugins/.previous/${n}`, `plugins/.molecule/${n}.json`]);
    expect(without(await hostTree('d-drift'), ...touched, 'plugins/.previous/.markers')).toEqual(without(before, ...touched, 'plugins/.previous/.markers'));
    const op = await operation('d-drift', res.body.operationId);
    expect(steps(op)).toEqual([
      ['Inventory', 'SUCCEEDED'],
      ['Stage', 'SUCCEEDED'],
      ['Repair', 'SUCCEEDED'],
      ['Restart', 'SUCCEEDED'],
      ['VerifyHealth', 'SUCCEEDED'],
      ['Record', 'SUCCEEDED'],
    ]);
    expect(op.verify.plugins.filter((p: { state: string }) => p.state !== 'ok').map((p: { name: string }) => p.name)).toEqual([
      'code-review-rules',
      'hand-made',
      'hello-skill',
    ]);
    const after = (await verify('d-drift')).body;
    expect(after.plugins.filter((p: { state: string }) => p.state !== 'ok').map((p: { name: string }) => p.name)).toEqual(['hand-made']);
    expect(after.debris).toEqual(['.staging/safe-shell-hook.20250101T000000000Z']);
  });

  it('adopts what the host has, as a revision from host://<workspace>, and changes nothing on the host', async () => {
    const restartsBefore = await restarts('d-drift');
    const before = await hostTree('d-drift');
    const found = (await verify('d-drift')).body.plugins.find((p: { name: string }) => p.name === 'hand-made').found;

    const res = await repair('d-drift', { mode: 'adopt' });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ mode: 'adopt', restarted: false, plugins: [{ name: 'hand-made', action: 'adopted', sha256: found.sha256, revision: 1 }] });
    expect(await hostTree('d-drift')).toEqual(before);
    expect(await restarts('d-drift')).toBe(restartsBefore);
    const listed = (await stack.call('GET', '/workspaces/d-drift/plugins', { token: org })).body as Array<{ name: string; source: string; sha256: string }>;
    expect(listed.find((p) => p.name === 'hand-made')).toMatchObject({ source: 'host://d-drift', sha256: found.sha256 });
    const revisions = (await stack.call('GET', '/workspaces/d-drift/plugins/hand-made/revisions', { token: org })).body.revisions;
    expect(revisions).toEqual([
      expect.objectContaining({
        revision: 1,
        status: 'active',
        source: 'host://d-drift',
        kept: false,
        files: [{ path: 'rules/mine.md', sha256: createHash('sha256').update('Copied in by hand.\n').digest('hex'), size: 19 }],
      }),
    ]);
  });

  it('cleans the debris and nothing else, and then the host is in sync', async () => {
    const before = await hostTree('d-drift');

    const res = await repair('d-drift', { mode: 'clean' });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ mode: 'clean', plugins: [], debris: ['.staging/safe-shell-hook.20250101T000000000Z'], restarted: false });
    const debris = 'plugins/.staging/safe-shell-hook.20250101T000000000Z';
    expect(await hostTree('d-drift')).toEqual(without(before, debris));
    expect(Object.keys(before).filter((path) => path.startsWith(debris))).not.toHaveLength(0);
    expect((await verify('d-drift')).body).toMatchObject({ drift: false, debris: [] });
  });

  it('keeps to the plugins a request names, and says what it left alone', async () => {
    await appendFile(join(pluginsDir('d-drift'), 'code-review-rules', 'rules', 'commits.md'), 'again\n');
    await appendFile(join(pluginsDir('d-drift'), 'safe-shell-hook', 'hooks', 'pre-tool-use.sh'), '# again\n');

    const res = await repair('d-drift', { mode: 'reinstall', plugins: ['safe-shell-hook', 'hello-skill'] });

    expect(res.body.plugins.map((p: { name: string }) => p.name)).toEqual(['safe-shell-hook']);
    expect((await operation('d-drift', res.body.operationId)).warnings).toEqual(['not_repaired: hello-skill: ok']);
    const after = (await verify('d-drift')).body.plugins.filter((p: { state: string }) => p.state !== 'ok');
    expect(after.map((p: { name: string; files?: unknown }) => [p.name, p.files])).toEqual([
      ['code-review-rules', { added: [], removed: [], changed: ['rules/commits.md'] }],
    ]);
  });
});

describe('the health gate after a reinstall', () => {
  it('puts back what the host had when the agent does not come up, and fails health_check_failed', async () => {
    expect((await install('d-gate', 'local://hello-skill')).status).toBe(200);
    // An edited manifest: not a SKILL.md alone, so the reinstall restarts the agent.
    const manifest = join(pluginsDir('d-gate'), 'hello-skill', 'plugin.yaml');
    await appendFile(manifest, '# edited on the host\n');
    // A plugin copied in by hand that the agent cannot load: any restart now leaves it unhealthy.
    await mkdir(join(pluginsDir('d-gate'), 'broken'), { recursive: true });
    await writeFile(join(pluginsDir('d-gate'), 'broken', '.mcp.json'), '{"mcpServers": {');
    const edited = await readFile(manifest, 'utf8');
    const restartsBefore = await restarts('d-gate');

    const res = await repair('d-gate', { mode: 'reinstall' });

    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ code: 'health_check_failed', rolledBack: true });
    expect(await readFile(manifest, 'utf8')).toBe(edited);
    expect(await restarts('d-gate')).toBe(restartsBefore + 2);
    const op = await operation('d-gate', res.body.operationId);
    expect(op).toMatchObject({ kind: 'repair', status: 'FAILED', error: { code: 'health_check_failed' } });
    expect((await install('d-gate', 'local://code-review-rules')).status).not.toBe(503);
  });
});

describe('hosts the records lost, large hosts and hosts that are down', () => {
  it('rediscovers a workspace brought back after its rows were purged: its plugins are unknown, with what their install marker says', async () => {
    const installed = await install('d-purged', 'local://hello-skill');
    expect(installed.status).toBe(200);
    await stack.call('PUT', '/admin/workspaces/d-purged', {
      token: stack.adminToken,
      body: { orgId: 'drift', runtime: 'claude-code', instanceId: INSTANCES['d-purged'], status: 'removed' },
    });
    expect((await stack.call('POST', '/admin/cleanup/run', { token: stack.adminToken })).body.purgedRows).toBeGreaterThanOrEqual(1);
    await stack.call('PUT', '/admin/workspaces/d-purged', {
      token: stack.adminToken,
      body: { orgId: 'drift', runtime: 'claude-code', instanceId: INSTANCES['d-purged'] },
    });
    expect((await stack.call('GET', '/workspaces/d-purged/plugins', { token: org })).body).toEqual([]);

    const res = await verify('d-purged');

    expect(res.body).toMatchObject({
      drift: true,
      plugins: [{ name: 'hello-skill', state: 'unknown', found: { sha256: installed.body.sha256, source: 'local://hello-skill', version: '1.0.0' } }],
    });
  });

  it('answers for a host with 500 plugins and 10 000 files', async () => {
    for (let p = 0; p < 500; p++) {
      const dir = join(pluginsDir('d-many'), `bulk-${String(p).padStart(3, '0')}`, 'rules');
      await mkdir(dir, { recursive: true });
      await Promise.all(Array.from({ length: 20 }, (_, f) => writeFile(join(dir, `rule-${f}.md`), `rule ${p}.${f}\n`)));
    }
    const started = Date.now();

    const res = await verify('d-many');

    expect(res.status).toBe(200);
    expect(res.body.plugins).toHaveLength(500);
    expect(res.body.plugins.every((p: { state: string }) => p.state === 'unknown')).toBe(true);
    console.info(`verify of 500 plugins / 10 000 files took ${Date.now() - started} ms`);
  }, 60_000);

  it('fails a verify of a stopped host with workspace_unreachable, leaving the operation closed and the workspace free', async () => {
    expect((await install('d-down', 'local://hello-skill')).status).toBe(200);
    expect((await stack.call('POST', `/admin/local/instances/${INSTANCES['d-down']}/stop`, { token: stack.adminToken })).status).toBe(200);

    const res = await verify('d-down');

    expect([res.status, res.body.code]).toEqual([503, 'workspace_unreachable']);
    expect(await operation('d-down', res.body.operationId)).toMatchObject({ kind: 'verify', status: 'FAILED', error: { code: 'workspace_unreachable' } });
    const failedRepair = await repair('d-down', { mode: 'clean' });
    expect([failedRepair.status, failedRepair.body.code]).toEqual([503, 'workspace_unreachable']);
    await stack.call('POST', `/admin/local/instances/${INSTANCES['d-down']}/start`, { token: stack.adminToken });
    expect((await verify('d-down')).status).toBe(200);
  });
});

const cli = (...args: string[]) => runCli(stack.url, org, ...args);

describe('the command line', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it('verifies with exit 0 in sync and 2 drifted, listing what differs, and repairs following each step', async () => {
    expect((await install('d-cli', 'local://hello-skill')).status).toBe(200);
    const synced = await cli('verify', 'd-cli');
    expect(synced).toMatchObject({ code: 0, stdout: 'd-cli: in sync (1 plugins as recorded, no debris)\n' });

    await appendFile(join(pluginsDir('d-cli'), 'hello-skill', 'skills', 'hello', 'SKILL.md'), 'Edited.\n');
    await mkdir(join(pluginsDir('d-cli'), '.staging', 'hello-skill.1'), { recursive: true });
    const drifted = await cli('verify', 'd-cli');
    expect(drifted.code).toBe(2);
    expect(drifted.stdout).toMatch(/^d-cli: drifted \(1 of 1 plugins differ from the records, 1 debris\)$/m);
    expect(drifted.stdout).toMatch(/^~ hello-skill {2}modified {2}recorded 1\.0\.0 [0-9a-f]{12}, found 1\.0\.0 [0-9a-f]{12}$/m);
    expect(drifted.stdout).toContain('\n    ~ skills/hello/SKILL.md\n');
    expect(drifted.stdout).toContain('debris: plugins/.staging/hello-skill.1');
    expect(JSON.parse((await cli('verify', 'd-cli', '--json')).stdout)).toMatchObject({ status: 'verified', drift: true });

    const mended = await cli('repair', 'd-cli', '--mode', 'reinstall', '--plugin', 'hello-skill');
    expect(mended.code).toBe(0);
    for (const step of ['Inventory', 'Stage', 'Repair', 'Record']) expect(mended.stderr).toMatch(new RegExp(`${step}\\s+succeeded`));
    // Only a SKILL.md differed: the runtime hot-reloads it (SPEC §5), so no restart and no gate.
    for (const step of ['Restart', 'VerifyHealth']) expect(mended.stderr).toMatch(new RegExp(`${step}\\s+skipped`));
    expect(mended.stdout).toMatch(/^repaired workspace d-cli\nreinstall: reinstalled hello-skill \(revision 1\)$/m);
    expect((await cli('repair', 'd-cli', '--mode', 'clean')).code).toBe(0);
    expect((await cli('verify', 'd-cli')).code).toBe(0);

    const usage = await cli('repair', 'd-cli');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--mode');
  });
});

describe('the drift sweep', () => {
  it('verifies the workspaces never verified on the cleanup run, and counts the drifted ones', async () => {
    // Registered now: an earlier cleanup run (the purge above) swept every workspace there was.
    await stack.call('PUT', '/admin/workspaces/d-swept', {
      token: stack.adminToken,
      body: { orgId: 'drift', runtime: 'claude-code', instanceId: SWEPT_INSTANCE },
    });
    expect((await install('d-swept', 'local://hello-skill')).status).toBe(200);
    await rm(join(pluginsDir('d-swept'), 'hello-skill'), { recursive: true });

    const summary = (await stack.call('POST', '/admin/cleanup/run', { token: stack.adminToken })).body;

    const started = summary.driftSweep.started.find((s: { workspaceId: string }) => s.workspaceId === 'd-swept');
    expect(started).toEqual({ workspaceId: 'd-swept', operationId: expect.any(String) });
    // Verified a moment ago: not swept again.
    expect(summary.driftSweep.started.map((s: { workspaceId: string }) => s.workspaceId)).not.toContain('d-sync');
    const op = await until('the swept verify to finish', async () => {
      const found = await operation('d-swept', started.operationId);
      return found.status === 'RUNNING' ? undefined : found;
    });
    expect(op).toMatchObject({ kind: 'verify', status: 'SUCCEEDED', verify: { drift: true, plugins: [{ name: 'hello-skill', state: 'missing' }] } });
    const next = (await stack.call('POST', '/admin/cleanup/run', { token: stack.adminToken })).body;
    expect(next.driftSweep.started.map((s: { workspaceId: string }) => s.workspaceId)).not.toContain('d-swept');
    expect(next.driftSweep.driftedWorkspaces).toBeGreaterThanOrEqual(1);
  });
});
