import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnLocalStack, type SpawnedStack } from '../support/local-stack.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { FAULT_TEST_TIMEOUT_MS, until as waitFor } from '../support/until.js';
import { LOCAL_HEALTH_COMMAND } from '../../local/instances.js';

/**
 * SPEC §9: every way the health gate can end leaves the operation terminal, the workspace free and
 * the host matching the record. Here `npm start` is killed (`kill -9`) after the swap and before
 * the verdict, and a host stops answering in the middle of the gate. The health command waits
 * while `hold` exists (saying it got there by touching `reached`), so each fault lands inside it.
 */
const INSTANCE = 'i-0e2e0000000000a0b';
const WS = 'w-gate';

let shim = '';
let registry = '';
let database: TestDatabase | undefined;
let stack: SpawnedStack | undefined;
let env: Record<string, string | undefined> = {};

const hostPlugins = () => join(stack?.localDir ?? '', 'instances', INSTANCE, 'configs', 'plugins');
const restartLines = async () => {
  const log = join(stack?.localDir ?? '', 'instances', INSTANCE, 'var', 'log', 'molecule-restarts.log');
  return existsSync(log) ? (await readFile(log, 'utf8')).split('\n').filter(Boolean) : [];
};
const onHost = async () => (existsSync(hostPlugins()) ? (await readdir(hostPlugins())).filter((n) => !n.startsWith('.')).sort() : []);

/** Waits for `probe`, showing the stack's output when it gives up. */
const until = <T>(what: string, probe: () => Promise<T | undefined> | T | undefined) => waitFor(what, probe, () => stack?.output() ?? '');

beforeAll(async () => {
  shim = await mkdtemp(join(tmpdir(), 'molecule-gate-'));
  // A registry plugin whose MCP config the emulated agent cannot load.
  registry = join(shim, 'registry');
  await mkdir(join(registry, 'broken-mcp', 'rules'), { recursive: true });
  await writeFile(join(registry, 'broken-mcp', 'plugin.yaml'), 'name: broken-mcp\nversion: 1.0.0\n');
  await writeFile(join(registry, 'broken-mcp', '.mcp.json'), '{"mcpServers": {');
  await writeFile(join(registry, 'broken-mcp', 'rules', 'r.md'), 'r\n');
  database = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
  env = {
    DATABASE_URL: database?.url,
    MOLECULE_REGISTRY_DIR: registry,
    // It also notes the process group of the host command running it (its parent's parent: the
    // check runs under `timeout`), so a test can take the host down under it.
    // Read from /proc: field 4 of a stat line is the parent, field 5 the process group.
    PLUGIN_HEALTH_COMMAND: `parent=$(cut -d' ' -f4 /proc/$PPID/stat); cut -d' ' -f5 /proc/$parent/stat > '${shim}/host-group.tmp' && mv '${shim}/host-group.tmp' '${shim}/host-group'; touch '${shim}/reached'; while [ -e '${shim}/hold' ]; do sleep 0.1; done; ${LOCAL_HEALTH_COMMAND}`,
    PLUGIN_HEALTH_TIMEOUT: '4s',
    PLUGIN_RECONCILE_AFTER: '2s',
    PLUGIN_RECONCILE_INTERVAL: '1s',
  };
  stack = await spawnLocalStack(env);
}, 90_000);

afterAll(async () => {
  await rm(join(shim, 'hold'), { force: true });
  await stack?.stop();
  await database?.close();
  await rm(shim, { recursive: true, force: true });
});

describe('the health gate interrupted', { timeout: FAULT_TEST_TIMEOUT_MS }, () => {
  it('closes an install killed between the swap and the verdict, records what the host kept, and frees the workspace', async () => {
    const first = stack as SpawnedStack;
    const admin = first.adminToken;
    await first.call('PUT', `/admin/workspaces/${WS}`, { token: admin, body: { orgId: 'gate', runtime: 'claude-code', instanceId: INSTANCE } });
    const org = (await first.call('POST', '/admin/orgs/gate/tokens', { token: admin })).body.token as string;
    await writeFile(join(shim, 'hold'), '');

    const accepted = await first.call('POST', `/workspaces/${WS}/plugins`, { token: org, body: { source: 'local://broken-mcp' } });
    expect(accepted.status).toBe(202);
    const operationId = accepted.body.operationId as string;
    await until('the health check to start', () => (existsSync(join(shim, 'reached')) ? true : undefined));
    expect(await onHost()).toEqual(['broken-mcp']);
    await first.kill();

    // The gate's host command outlives the stack: released, it finds the agent unhealthy, removes
    // the first install and restarts again.
    await rm(join(shim, 'hold'));
    await until('the orphaned gate to put the host back', async () => ((await restartLines()).length >= 2 ? true : undefined));
    stack = await spawnLocalStack(env, { localDir: first.localDir, adminToken: admin });
    const second = stack;

    const closed = await until('the operation to be closed', async () => {
      const op = (await second.call('GET', `/operations/${operationId}`, { token: admin })).body as { status: string };
      return op.status !== 'RUNNING' ? op : undefined;
    });
    expect(closed).toMatchObject({ status: 'FAILED', error: { code: 'delivery_failed' } });
    expect(await onHost()).toEqual([]);
    expect((await second.call('GET', `/workspaces/${WS}/plugins`, { token: org })).body).toEqual([]);

    const next = await second.call('POST', `/workspaces/${WS}/plugins`, {
      token: org,
      body: { source: 'local://hello-skill' },
      headers: { prefer: 'wait=25' },
    });
    expect(next.status).toBe(200);
    expect(await onHost()).toEqual(['hello-skill']);
  });

  it('fails an install whose host dies in the middle of the gate, with the record matching what the host kept', async () => {
    const live = stack as SpawnedStack;
    const admin = live.adminToken;
    const org = (await live.call('POST', '/admin/orgs/gate/tokens', { token: admin })).body.token as string;
    await rm(join(shim, 'reached'), { force: true });
    await rm(join(shim, 'host-group'), { force: true });
    await writeFile(join(shim, 'hold'), '');

    const accepted = await live.call('POST', `/workspaces/${WS}/plugins`, { token: org, body: { source: 'local://code-review-rules' } });
    const operationId = accepted.body.operationId as string;
    await until('the health check to start', () => (existsSync(join(shim, 'reached')) ? true : undefined));
    // The host goes down under the gate: its command is killed outright, no trap runs, no answer comes.
    const group = await until('the host command’s process group', async () => {
      const read = Number((await readFile(join(shim, 'host-group'), 'utf8').catch(() => '')).trim());
      return read > 1 ? read : undefined;
    });
    process.kill(-group, 'SIGKILL');
    await rm(join(shim, 'hold'));

    const closed = await until('the operation to be closed', async () => {
      const op = (await live.call('GET', `/operations/${operationId}`, { token: admin })).body as {
        status: string;
        steps: Array<{ name: string; status: string }>;
      };
      return op.status !== 'RUNNING' ? op : undefined;
    });
    expect(closed).toMatchObject({ status: 'FAILED', error: { code: 'delivery_failed' } });
    expect(closed.steps.find((s) => s.name === 'VerifyHealth')?.status).toBe('FAILED');
    // The gate never reached its verdict, so nothing was put back: the host keeps the new plugin, and so does the record.
    expect(await onHost()).toEqual(['code-review-rules', 'hello-skill']);
    const listed = (await live.call('GET', `/workspaces/${WS}/plugins`, { token: org })).body as Array<{ name: string }>;
    expect(listed.map((p) => p.name).sort()).toEqual(await onHost());

    // The workspace is free: the next change goes through.
    const next = await live.call('DELETE', `/workspaces/${WS}/plugins/code-review-rules`, { token: org, headers: { prefer: 'wait=25' } });
    expect(next.status).toBe(200);
  });
});
