import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnedStack } from '../support/local-stack.js';
import { FAULT_TEST_TIMEOUT_MS, until as waitFor } from '../support/until.js';
import { type KillableStack, killableStack } from '../support/held-tar.js';

/**
 * Issue #7 item 1 end to end: `kill -9` of `npm start` while Deliver runs, then `npm start` again
 * on the same MOLECULE_LOCAL_DIR. The restarted engine has lost the execution; the reconciler
 * must close its operation with a documented code, record what the host really has, and free the
 * workspace for the next install.
 */
const INSTANCE = 'i-0e2e0000000000a07';
const WS = 'w-recover';

let harness: KillableStack | undefined;
let stack: SpawnedStack | undefined;

const hostPlugins = () => join(stack?.localDir ?? '', 'instances', INSTANCE, 'configs', 'plugins');

/** Waits for `probe`, showing the stack's output when it gives up. */
const until = <T>(what: string, probe: () => Promise<T | undefined> | T | undefined) => waitFor(what, probe, () => stack?.output() ?? '');

/** What the emulated host has: every plugin dir with the version its plugin.yaml declares. */
async function onHost(): Promise<Array<{ name: string; version: string | null }>> {
  const names = existsSync(hostPlugins()) ? (await readdir(hostPlugins())).filter((n) => !n.startsWith('.')).sort() : [];
  return Promise.all(
    names.map(async (name) => {
      const manifest = await readFile(join(hostPlugins(), name, 'plugin.yaml'), 'utf8');
      const version = /^version:\s*["']?([^"'\s#]+)/m.exec(manifest)?.[1] ?? null;
      return { name, version };
    }),
  );
}

beforeAll(async () => {
  // The host command is still inside Deliver when the stack is killed.
  harness = await killableStack('recovery');
  stack = harness.stack;
}, 90_000);

afterAll(async () => {
  await harness?.close();
});

describe('a stack killed mid-Deliver and started again', { timeout: FAULT_TEST_TIMEOUT_MS }, () => {
  it('closes the interrupted operation with a documented code, records what the host has, and lets the next install through', async () => {
    const first = stack as SpawnedStack;
    const admin = first.adminToken;
    expect(
      (await first.call('PUT', `/admin/workspaces/${WS}`, { token: admin, body: { orgId: 'recover', runtime: 'claude-code', instanceId: INSTANCE } })).status,
    ).toBe(201);
    const org = (await first.call('POST', '/admin/orgs/recover/tokens', { token: admin })).body.token as string;
    await harness!.tar.hold();

    const accepted = await first.call('POST', `/workspaces/${WS}/plugins`, { token: org, body: { source: 'local://hello-skill' } });
    expect(accepted.status).toBe(202);
    const operationId = accepted.body.operationId as string;
    await until('the host command to reach the unpack', async () => ((await harness!.tar.reached()) > 0 ? true : undefined));
    await first.kill();

    // The host command outlives the stack that sent it: let it finish before the stack returns.
    await harness!.tar.release();
    await until('the orphaned install to finish', () => (existsSync(join(hostPlugins(), '.staging')) ? undefined : true));
    stack = await harness!.restart(first);
    const second = stack;

    const closed = await until('the operation to be closed', async () => {
      const ops = (await second.call('GET', `/operations?workspaceId=${WS}`, { token: admin })).body as Array<{ operationId: string; status: string }>;
      const op = ops.find((o) => o.operationId === operationId);
      return op && op.status !== 'RUNNING' ? op : undefined;
    });
    expect(closed).toMatchObject({
      status: 'FAILED',
      error: { code: 'delivery_failed', httpStatus: 502, message: 'the workflow stopped before the operation finished (its execution no longer exists)' },
    });
    expect((closed as unknown as { steps: Array<{ status: string }> }).steps.map((s) => s.status)).not.toContain('RUNNING');

    const host = await onHost();
    expect(host).toEqual([{ name: 'hello-skill', version: expect.any(String) }]);
    const listed = (await second.call('GET', `/workspaces/${WS}/plugins`, { token: org })).body as Array<{
      name: string;
      version: string | null;
      sha256: string;
    }>;
    expect(listed.map(({ name, version }) => ({ name, version }))).toEqual(host);

    const next = await second.call('POST', `/workspaces/${WS}/plugins`, {
      token: org,
      body: { source: 'local://hello-skill' },
      headers: { prefer: 'wait=30' },
    });
    expect(next.status).toBe(200);
    expect(next.body).toMatchObject({ status: 'installed', plugin: 'hello-skill' });
    const after = (await second.call('GET', `/workspaces/${WS}/plugins`, { token: org })).body as Array<{ name: string; sha256: string }>;
    expect(after.map((p) => [p.name, p.sha256])).toEqual([['hello-skill', next.body.sha256]]);
    // What the reconciler recorded from the host was already the same content.
    expect(listed[0]?.sha256).toBe(next.body.sha256);
  });
});
