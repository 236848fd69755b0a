import { keepsTarballsInMemory } from '../../support/operation-fakes.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeInstanceInformationCommand, GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { createOperation, getOperation } from '../../../lambdas/store/operations.js';
import { deliverStep, type DeliverDeps } from '../../../lambdas/workflow/steps/deliver.js';
import { recordStep } from '../../../lambdas/workflow/steps/record.js';
import { recordFailureStep } from '../../../lambdas/workflow/steps/record-failure.js';
import { logger } from '../../../lambdas/shared/logger.js';
import { METRIC, METRICS_NAMESPACE } from '../../../lambdas/shared/metrics.js';
import type { Workspace } from '../../../lambdas/shared/types.js';
import { stagedDemo } from '../../support/demo-plugin.js';
import { postgresStepPorts } from '../../../lambdas/workflow/adapters/postgres.js';

/**
 * Issue #9: one operation, fully explained. Each step records its attempts (with the error name
 * of each retried attempt), how it reached the host, and on failure its documented error and the
 * host's last output lines with secrets removed; Record and RecordFailure publish their metrics
 * (EMF on stdout) and every step log line names the operation, workspace, plugin, step and attempt.
 * A real database; SSM and S3 are mocked.
 */
let t: TestDatabase;
const s3 = mockClient(S3Client);
const ssm = mockClient(SSMClient);
let workspace: Workspace;
let seq = 0;

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => t?.close());
beforeEach(() => {
  s3.reset();
  ssm.reset();
});

async function stagedState(): Promise<Record<string, unknown> & { operationId: string }> {
  const operationId = `00000000-0000-4000-9000-${String(++seq).padStart(12, '0')}`;
  // A workspace per operation: one left holding its lease does not hold up the next test.
  workspace = (
    await upsertWorkspace(t.db, `ws-explain-${seq}`, { orgId: 'org-explain', runtime: 'claude-code', instanceId: 'i-0123456789abcdef1', transport: 'ssm' })
  ).workspace;
  await createOperation(t.db, {
    id: operationId,
    workspaceId: workspace.id,
    orgId: workspace.orgId,
    kind: 'install',
    plugin: 'demo',
    source: 'local://demo',
    sha256: null,
    idempotencyKey: null,
    requestHash: null,
    actorPrefix: 'test',
    executionArn: null,
  });
  return {
    phase: 'staged',
    operationId,
    kind: 'install',
    workspace,
    source: 'local://demo',
    plugin: 'demo',
    expectedSha256: null,
    restart: true,
    uninstallAt: null,
    staged: stagedDemo(operationId),
  };
}

const deps = (): DeliverDeps => ({
  ports: postgresStepPorts(t.db),
  s3: new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' } }),
  config: { leaseTtlMs: 60_000, presignTtlSeconds: 300 },
  delivery: {
    ssm: new SSMClient({ region: 'us-east-1' }),
    config: { configDirFor: () => '/configs', restartCommand: 'true', deliveryTimeoutMs: 5_000, healthCommandFor: () => 'true', healthTimeoutMs: 4_000 },
    ssmPolling: { pollIntervalMs: 1, maxPollIntervalMs: 5 },
  },
});

const online = () =>
  ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: workspace.instanceId!, PingStatus: 'Online' }] });

function throttled(): Error {
  return Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
}

/** What the process wrote to stdout (EMF, logs) and stderr (warnings) while `work` ran, as the JSON lines among it. */
async function stdoutJson(work: () => Promise<unknown>): Promise<Array<Record<string, any>>> {
  const lines: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n'));
    return true;
  };
  const spies = [vi.spyOn(process.stdout, 'write').mockImplementation(capture), vi.spyOn(process.stderr, 'write').mockImplementation(capture)];
  try {
    await work();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return lines.flatMap((line) => {
    try {
      const parsed: unknown = JSON.parse(line);
      return parsed && typeof parsed === 'object' ? [parsed as Record<string, any>] : [];
    } catch {
      return [];
    }
  });
}

describe('a step retried by the workflow', () => {
  it('counts its attempts and names the error each retried attempt failed with', async () => {
    const state = await stagedState();
    ssm.on(DescribeInstanceInformationCommand).rejectsOnce(throttled());
    const first = deliverStep(deps())(state);
    await expect(first).rejects.toMatchObject({ name: 'AwsThrottled' });

    // The workflow's Retry invokes the step again with the same state.
    online();
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-0123' } });
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'MOLECULE_RESULT {"ok":true}\n' });
    await deliverStep(deps())(state);

    const [deliver] = (await getOperation(t.db, state.operationId))!.steps;
    expect(deliver).toMatchObject({
      name: 'Deliver',
      status: 'SUCCEEDED',
      attempts: 2,
      retries: [{ error: 'AwsThrottled', at: expect.any(String) }],
      transport: 'ssm',
      commandId: 'cmd-0123',
    });
    expect(deliver!.durationMs).toBeGreaterThanOrEqual(0);
    expect(Date.parse(deliver!.endedAt!)).toBeGreaterThanOrEqual(Date.parse(deliver!.startedAt));
    // A successful attempt carries no error of the one before it.
    expect(deliver).not.toHaveProperty('error');
  });

  it('names an attempt that never reported (its invocation died) Interrupted, and RecordFailure closes it with the operation error', async () => {
    const state = await stagedState();
    // The first invocation died after marking the step started: nothing ended it.
    ssm.on(DescribeInstanceInformationCommand).callsFake(() => new Promise(() => undefined));
    void deliverStep(deps())(state).catch(() => undefined);
    await vi.waitFor(async () => expect((await getOperation(t.db, state.operationId))!.steps[0]?.status).toBe('RUNNING'));
    ssm.reset();
    ssm.on(DescribeInstanceInformationCommand).callsFake(() => new Promise(() => undefined));
    void deliverStep(deps())(state).catch(() => undefined);
    await vi.waitFor(async () => expect((await getOperation(t.db, state.operationId))!.steps[0]?.attempts).toBe(2));

    s3.on(DeleteObjectCommand).resolves({});
    await recordFailureStep({ ports: postgresStepPorts(t.db), s3: new S3Client({ region: 'us-east-1' }), ...keepsTarballsInMemory() })({
      ...state,
      error: { Error: 'States.Timeout', Cause: '' },
    });

    const operation = (await getOperation(t.db, state.operationId))!;
    expect(operation.status).toBe('FAILED');
    expect(operation.steps.map((s) => [s.name, s.status])).toEqual([
      ['Deliver', 'FAILED'],
      ['RecordFailure', 'SUCCEEDED'],
    ]);
    expect(operation.steps[0]).toMatchObject({
      attempts: 2,
      retries: [{ error: 'Interrupted' }],
      error: { code: 'delivery_failed', message: 'the operation timed out' },
    });
  });
});

describe('a step that failed on the host', () => {
  it('keeps the error, the command id and the last output lines without secrets, also after RecordFailure', async () => {
    const state = await stagedState();
    online();
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-failed-1' } });
    const noise = Array.from({ length: 30 }, (_, i) => `unpacking entry ${i}`);
    const stderr = [
      ...noise,
      'curl: (22) The requested URL returned error: 403 for https://staging.s3.amazonaws.com/staged/demo.tar.gz?X-Amz-Signature=abcdef0123456789&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE',
      'retrying with header Authorization: Bearer mpd_o_supersecrettoken123',
      'password=hunter2 token: ghp_abcdefghijklmnopqrstuvwxyz0123456789ABCD',
      `a very long line ${'x'.repeat(400)}`,
    ].join('\n');
    ssm.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      ResponseCode: 1,
      StandardOutputContent: 'MOLECULE_RESULT {"ok":false,"step":"download","restored":true}\n',
      StandardErrorContent: stderr,
    });
    await expect(deliverStep(deps())(state)).rejects.toMatchObject({ name: 'DeliveryFailed' });

    s3.on(DeleteObjectCommand).resolves({});
    await recordFailureStep({ ports: postgresStepPorts(t.db), s3: new S3Client({ region: 'us-east-1' }), ...keepsTarballsInMemory() })({
      ...state,
      error: { Error: 'DeliveryFailed', Cause: JSON.stringify({ errorMessage: 'the workspace could not download the staged plugin' }) },
    });

    const operation = (await getOperation(t.db, state.operationId))!;
    expect(operation.error?.code).toBe('delivery_failed');
    const deliver = operation.steps.find((s) => s.name === 'Deliver')!;
    expect(deliver).toMatchObject({
      status: 'FAILED',
      attempts: 1,
      retries: [],
      transport: 'ssm',
      commandId: 'cmd-failed-1',
      error: { code: 'delivery_failed', message: 'the workspace could not download the staged plugin' },
    });
    const tail = deliver.outputTail!;
    expect(tail.length).toBeGreaterThan(0);
    expect(tail.length).toBeLessThanOrEqual(20);
    for (const line of tail) expect(line.length).toBeLessThanOrEqual(200);
    const text = tail.join('\n');
    expect(text).toContain('curl: (22) The requested URL returned error: 403');
    for (const secret of ['X-Amz-Signature', 'abcdef0123456789', 'AKIAIOSFODNN7EXAMPLE', 'supersecrettoken', 'hunter2', 'ghp_abcdefghijklmnop']) {
      expect(text).not.toContain(secret);
    }
    expect(operation.steps.find((s) => s.name === 'RecordFailure')?.status).toBe('SUCCEEDED');
  });
});

describe('telemetry of the closing steps', () => {
  const saved = process.env.POWERTOOLS_METRICS_DISABLED;
  beforeEach(() => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    logger.setLogLevel('INFO');
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = saved;
    logger.setLogLevel('SILENT');
  });

  it('Record publishes OperationsSucceeded and its StepDuration in EMF, and logs with the operation, workspace, plugin, step and attempt', async () => {
    const state = await stagedState();
    const restarted = { ...state, phase: 'restarted', delivered: { transport: 'ssm', changedOnlySkillDocs: false }, restarted: true };
    const lines = await stdoutJson(() => recordStep({ ports: postgresStepPorts(t.db), ...keepsTarballsInMemory() })(restarted));

    const emf = lines.filter((l) => l._aws?.CloudWatchMetrics);
    const succeeded = emf.filter((l) => l[METRIC.OperationsSucceeded] === 1);
    // Powertools writes a metric without dimensions as `Dimensions: []`.
    expect(succeeded.map((l) => l._aws.CloudWatchMetrics[0].Dimensions)).toEqual(expect.arrayContaining([[], [['kind']]]));
    expect(succeeded[0]!._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: METRICS_NAMESPACE, Metrics: [{ Name: 'OperationsSucceeded', Unit: 'Count' }] });
    const duration = emf.find((l) => typeof l[METRIC.StepDuration] === 'number');
    expect(duration).toMatchObject({
      step: 'Record',
      _aws: { CloudWatchMetrics: [{ Dimensions: [['step']], Metrics: [{ Name: 'StepDuration', Unit: 'Milliseconds' }] }] },
    });

    const logs = lines.filter((l) => l.message === 'step finished');
    expect(logs).toEqual([expect.objectContaining({ operationId: state.operationId, workspaceId: workspace.id, plugin: 'demo', step: 'Record', attempt: 1 })]);
    expect((await getOperation(t.db, state.operationId))?.status).toBe('SUCCEEDED');
  });

  it('RecordFailure publishes OperationsFailed, in all and by error code', async () => {
    const state = await stagedState();
    s3.on(DeleteObjectCommand).resolves({});
    const lines = await stdoutJson(() =>
      recordFailureStep({ ports: postgresStepPorts(t.db), s3: new S3Client({ region: 'us-east-1' }), ...keepsTarballsInMemory() })({
        ...state,
        error: { Error: 'WorkspaceUnreachable', Cause: JSON.stringify({ errorMessage: 'the workspace instance is not running (it is stopped)' }) },
      }),
    );
    const failed = lines.filter((l) => l[METRIC.OperationsFailed] === 1);
    expect(failed).toHaveLength(2);
    expect(failed.find((l) => l.errorCode)).toMatchObject({
      errorCode: 'workspace_unreachable',
      _aws: { CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [['errorCode']] }] },
    });
    expect(failed.find((l) => !l.errorCode)?._aws.CloudWatchMetrics[0].Dimensions).toEqual([]);
    expect(lines.find((l) => l.message === 'operation failed')).toMatchObject({
      operationId: state.operationId,
      step: 'RecordFailure',
      plugin: 'demo',
      attempt: 1,
    });
  });
});
