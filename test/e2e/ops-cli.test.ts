import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { useLocalStack, useSharedLocalStack, type SpawnedStack } from '../support/local-stack.js';

/**
 * Issue #9 on `npm start`'s process, over HTTP: an operation says which execution it is, and an
 * install that failed at Deliver explains itself through the API and `npm run -s cli -- status`.
 * No speed is asserted; bounds only stop a stuck run.
 */

async function npmCli(stack: SpawnedStack, token: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)('npm', ['run', '-s', 'cli', '--', ...args], {
      env: { ...process.env, MOLECULE_API_URL: stack.url, MOLECULE_TOKEN: token },
      timeout: 90_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout, stderr: e.stderr };
  }
}

async function finished(stack: SpawnedStack, operationId: string, boundMs = 120_000): Promise<any> {
  const until = Date.now() + boundMs;
  for (;;) {
    const res = await stack.call('GET', `/operations/${operationId}`, { token: stack.adminToken });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    if (res.body.status !== 'RUNNING') return res.body;
    if (Date.now() > until) throw new Error(`operation still RUNNING at the bound: ${JSON.stringify(res.body)}`);
    await sleep(250);
  }
}

async function workspace(stack: SpawnedStack, id: string, instanceId: string, transport = 'auto'): Promise<void> {
  const put = await stack.call('PUT', `/admin/workspaces/${id}`, {
    token: stack.adminToken,
    body: { orgId: 'ops-org', runtime: 'claude-code', instanceId, transport },
  });
  expect(put.status, JSON.stringify(put.body)).toBeLessThan(300);
}

async function install(stack: SpawnedStack, workspaceId: string, source: string): Promise<string> {
  const res = await stack.call('POST', `/workspaces/${workspaceId}/plugins`, { token: stack.adminToken, body: { source } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.operationId as string;
}

describe('an install that failed at Deliver', () => {
  const stack = useSharedLocalStack();
  const INSTANCE = 'i-0a5000000000000a1';
  const BROKEN = 'i-0a5000000000000b2';
  let operationId = '';

  beforeAll(async () => {
    await workspace(stack, 'ops-stopped', INSTANCE);
    const stopped = await stack.call('POST', `/admin/local/instances/${INSTANCE}/stop`, { token: stack.adminToken });
    expect(stopped.status, JSON.stringify(stopped.body)).toBeLessThan(300);
    operationId = await install(stack, 'ops-stopped', 'local://hello-skill');
  });

  it('onto a stopped instance fails with workspace_unreachable, the step saying how it tried and how often', async () => {
    const op = await finished(stack, operationId);
    expect(op).toMatchObject({ status: 'FAILED', error: { code: 'workspace_unreachable' }, orgId: 'ops-org' });
    const deliver = op.steps.find((s: { name: string }) => s.name === 'Deliver');
    expect(deliver).toMatchObject({
      status: 'FAILED',
      attempts: 1,
      retries: [],
      transport: 'eic-direct',
      error: { code: 'workspace_unreachable', message: expect.stringContaining('not running') },
    });
    expect(deliver.durationMs).toBeGreaterThanOrEqual(0);
    expect(op.steps.map((s: { name: string }) => s.name)).toEqual(['Stage', 'CheckAllowlist', 'Deliver', 'RecordFailure']);
    // The workspace route answers the same operation.
    const viaWorkspace = await stack.call('GET', `/workspaces/ops-stopped/plugins/operations/${operationId}`, { token: stack.adminToken });
    expect(viaWorkspace.body).toEqual(op);
  });

  it('ran as an execution named after what it does, whose ARN ends with that name; no console link locally', async () => {
    const op = await finished(stack, operationId);
    expect(op.executionName).toBe(`install-ops-stopped-hello-skill-${operationId.slice(0, 8)}`);
    expect(op.executionArn.endsWith(`:${op.executionName}`)).toBe(true);
    expect(op.consoleUrl).toBeNull();
  });

  it('`status <operationId>` with the admin token shows the failing step, its code and its attempts', async () => {
    const run = await npmCli(stack, stack.adminToken, 'status', operationId);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toContain('(workspace_unreachable)');
    expect(run.stdout).toMatch(/Deliver\s+FAILED\s+.*1 attempt\b.*via eic-direct/);
    expect(run.stdout).toMatch(/error workspace_unreachable: the workspace instance is not running/);
    expect(run.stdout).toContain(`execution install-ops-stopped-hello-skill-${operationId.slice(0, 8)}`);
    const asJson = await npmCli(stack, stack.adminToken, 'status', operationId, '--json');
    expect(JSON.parse(asJson.stdout)).toMatchObject({ operationId, status: 'FAILED' });
  });

  it('`watch --once` lists it among the recently failed operations, at its failing step', async () => {
    const run = await npmCli(stack, stack.adminToken, 'watch', '--once', '--workspace', 'ops-stopped');
    expect(run.code, run.stderr).toBe(0);
    const line = run.stdout.split('\n').find((l) => l.includes(operationId));
    expect(line).toMatch(/FAILED\s+install\s+ops-stopped\s+hello-skill\s+Deliver\s+1\s+workspace_unreachable/);
    const none = await npmCli(stack, stack.adminToken, 'watch', '--once', '--status', 'RUNNING', '--workspace', 'ops-stopped');
    expect(none.stdout).toContain('(no operations match)');
  });

  it('on a host whose install script fails, `npm run -s cli -- status <id>` shows the failing Deliver step, its code, attempts, command id and the host output tail', async () => {
    await workspace(stack, 'ops-broken', BROKEN, 'ssm');
    // The plugins directory is a file on this host: the install script cannot unpack into it.
    await mkdir(join(stack.localDir, 'instances', BROKEN, 'configs'), { recursive: true });
    await writeFile(join(stack.localDir, 'instances', BROKEN, 'configs', 'plugins'), 'not a directory\n');
    const operationId = await install(stack, 'ops-broken', 'local://hello-skill');
    const op = await finished(stack, operationId);
    expect(op.error?.code).toBe('delivery_failed');
    const deliver = op.steps.find((s: { name: string }) => s.name === 'Deliver');
    expect(deliver).toMatchObject({ status: 'FAILED', attempts: 1, transport: 'ssm', commandId: expect.any(String), error: { code: 'delivery_failed' } });
    expect(deliver.outputTail.length).toBeGreaterThan(0);
    expect(deliver.outputTail.length).toBeLessThanOrEqual(20);
    expect(deliver.outputTail.join('\n')).not.toMatch(/X-Amz-Signature|X-Amz-Credential/);

    const run = await npmCli(stack, stack.adminToken, 'status', operationId);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/Deliver\s+FAILED\s+.*1 attempt\b.*via ssm, command \S+/);
    expect(run.stdout).toContain('error delivery_failed:');
    expect(run.stdout).toContain('host output (last');
    expect(run.stdout).toContain(`| ${deliver.outputTail.at(-1)}`);
  });
});

describe('installs while SSM throttles (MOLECULE_LOCAL_FAULTS)', () => {
  const stack = useLocalStack({ MOLECULE_LOCAL_FAULTS: 'ssm.throttle=0.7', MOLECULE_LOCAL_FAULTS_SEED: '20261202' });

  it('succeed, and the steps that were retried name AwsThrottled for each retry', async () => {
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) {
      await workspace(stack, `ops-t${i}`, `i-0a50000000000c0${i}`, 'ssm');
      ids.push(await install(stack, `ops-t${i}`, 'local://hello-skill'));
    }
    const ops = await Promise.all(ids.map((id) => finished(stack, id, 300_000)));
    // The failed operation's error and steps say why, should one fail.
    expect(ops.map((o) => (o.status === 'SUCCEEDED' ? 'SUCCEEDED' : o))).toEqual(ids.map(() => 'SUCCEEDED'));
    const steps = ops.flatMap((o) => o.steps as Array<{ name: string; attempts: number; retries: Array<{ error: string; at: string }> }>);
    const retried = steps.filter((s) => s.attempts > 1);
    expect(retried.length).toBeGreaterThan(0);
    for (const step of retried) {
      expect(step.retries).toHaveLength(step.attempts - 1);
      for (const retry of step.retries) expect(retry).toEqual({ error: 'AwsThrottled', at: expect.any(String) });
    }
  }, 360_000);
});
