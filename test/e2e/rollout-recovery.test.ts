import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnLocalStack, type SpawnedStack } from '../support/local-stack.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { until as waitFor } from '../support/until.js';

/**
 * SPEC §10 crash safety: `kill -9` of `npm start` while a rollout has installs in flight, then
 * `npm start` again on the same state. The driver's execution is lost with the engine; the
 * reconciler gives the rollout a new driver, which carries on from the ledger: no workspace gets a
 * second install, none is forgotten, and every operation ends.
 */
const WORKSPACES = ['r0', 'r1', 'r2', 'r3'];
const instanceOf = (ws: string) => `i-0e2e00000000b0${ws.slice(1).padStart(2, '0')}`;

let shim = '';
let database: TestDatabase | undefined;
let stack: SpawnedStack | undefined;
let env: Record<string, string | undefined> = {};

/** Waits for `probe`, showing the stack's output when it gives up. */
const until = <T>(what: string, probe: () => Promise<T | undefined> | T | undefined) => waitFor(what, probe, () => stack?.output() ?? '');

beforeAll(async () => {
  // A `tar` that waits while `hold` exists, so installs are in flight when the stack is killed.
  shim = await mkdtemp(join(tmpdir(), 'molecule-rollout-recovery-'));
  const tar = execFileSync('sh', ['-c', 'command -v tar'], { encoding: 'utf8' }).trim();
  await writeFile(join(shim, 'tar'), `#!/bin/sh\ntouch "${shim}/reached.$$"\nwhile [ -e '${shim}/hold' ]; do sleep 0.1; done\nexec ${tar} "$@"\n`, {
    mode: 0o755,
  });
  database = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
  env = { DATABASE_URL: database?.url, PATH: `${shim}:${process.env.PATH ?? ''}`, PLUGIN_RECONCILE_AFTER: '2s', PLUGIN_RECONCILE_INTERVAL: '1s' };
  stack = await spawnLocalStack(env);
}, 90_000);

afterAll(async () => {
  await rm(join(shim, 'hold'), { force: true });
  await stack?.stop();
  await database?.close();
  await rm(shim, { recursive: true, force: true });
});

describe('a stack killed mid-rollout and started again', () => {
  it('resumes the rollout from its ledger: one operation per workspace, every one ended, none forgotten', async () => {
    const first = stack as SpawnedStack;
    const admin = first.adminToken;
    for (const ws of WORKSPACES) {
      await first.call('PUT', `/admin/workspaces/${ws}`, { token: admin, body: { orgId: 'crash', runtime: 'claude-code', instanceId: instanceOf(ws) } });
    }
    const org = (await first.call('POST', '/admin/orgs/crash/tokens', { token: admin })).body.token as string;
    await writeFile(join(shim, 'hold'), '');

    const accepted = await first.call('POST', '/orgs/crash/rollouts', {
      token: org,
      body: { source: 'local://hello-skill', targets: { all: true }, maxConcurrency: 2, canary: 0, maxErrors: 4 },
    });
    expect(accepted.status).toBe(202);
    const { rolloutId } = accepted.body as { rolloutId: string };
    const { readdir } = await import('node:fs/promises');
    await until('two installs in flight', async () => ((await readdir(shim)).filter((f) => f.startsWith('reached.')).length >= 2 ? true : undefined));
    await first.kill();
    await rm(join(shim, 'hold'));

    stack = await spawnLocalStack(env, { localDir: first.localDir, adminToken: admin });
    const second = stack;
    const ended = await until('the rollout to end', async () => {
      const r = (await second.call('GET', `/orgs/crash/rollouts/${rolloutId}`, { token: org })).body;
      return r.status !== 'RUNNING' ? r : undefined;
    });
    expect(ended.status).toBe('SUCCEEDED');
    expect(ended.counts).toMatchObject({ total: 4, pending: 0, running: 0 });
    expect(ended.counts.succeeded + ended.counts.failed).toBe(4);

    // One operation per workspace, each ended; the workspaces killed mid-install have it too.
    const ops = (await second.call('GET', '/operations?limit=100', { token: admin })).body as Array<{
      operationId: string;
      workspaceId: string;
      status: string;
      rolloutId?: string;
    }>;
    const ofRollout = ops.filter((op) => op.rolloutId === rolloutId);
    expect(ofRollout.map((op) => op.workspaceId).sort()).toEqual(WORKSPACES);
    expect(ofRollout.every((op) => op.status !== 'RUNNING')).toBe(true);
    expect(ended.workspaces.map((w: { operationId: string }) => w.operationId).sort()).toEqual(ofRollout.map((op) => op.operationId).sort());
    for (const ws of WORKSPACES) {
      expect(existsSync(join(first.localDir, 'instances', instanceOf(ws), 'configs', 'plugins', 'hello-skill'))).toBe(true);
    }
  });
});
