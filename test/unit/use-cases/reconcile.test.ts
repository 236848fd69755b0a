import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient, SFNServiceException } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { sfnExecutions } from '../../../lambdas/composition/reconcile.js';
import {
  reconcileExecution,
  reconcileStale,
  type ExecutionReader,
  type HostReport,
  type ReconcileDeps,
  type ReconcileStore,
} from '../../../lambdas/use-cases/reconcile.js';
import type { HostPlugin } from '../../../lambdas/store/reconcile.js';
import type { ErrorRecord } from '../../../lambdas/shared/errors.js';
import type { Operation, Workspace } from '../../../lambdas/shared/types.js';
import { fakeWorkspaces } from '../../support/operation-fakes.js';
import { logger } from '../../../lambdas/shared/logger.js';

const WORKSPACE: Workspace = { id: 'ws-1', orgId: 'org-1', runtime: 'claude-code', instanceId: 'i-0123456789abcdef0', transport: 'ssm', status: 'online' };
const ARN_PREFIX = 'arn:aws:states:us-east-1:000000000000:execution:machine:';
const SHA = 'a'.repeat(64);

function operation(id: string, overrides: Partial<Operation> = {}): Operation {
  return {
    operationId: id,
    workspaceId: WORKSPACE.id,
    orgId: WORKSPACE.orgId,
    kind: 'install',
    status: 'RUNNING',
    plugin: 'hello-skill',
    source: 'local://hello-skill',
    sha256: null,
    executionArn: `${ARN_PREFIX}${id}`,
    executionName: id,
    consoleUrl: null,
    createdAt: '2026-06-01T12:00:00.000Z',
    updatedAt: '2026-06-01T12:00:00.000Z',
    steps: [],
    warnings: [],
    ...overrides,
  };
}

type Execution = Awaited<ReturnType<ExecutionReader['describe']>>;

/** Ports over in-memory maps, recording what the use case asked of them. */
function setup(opts: { operations: Operation[]; executions?: Record<string, Execution | Error>; host?: HostReport | Error; pageSize?: number }) {
  const rows = new Map(opts.operations.map((o) => [o.operationId, { ...o }]));
  const recorded: Array<[string, string, HostPlugin | null]> = [];
  const closed: Array<[string, ErrorRecord]> = [];
  const probed: string[] = [];
  const store: ReconcileStore = {
    listStale: async ({ limit, cursor }) => {
      // Keyset paging on the id, as the store pages on (created_at, id).
      const after = [...rows.values()].filter((o) => o.status === 'RUNNING' && (!cursor || o.operationId > cursor));
      const page = after.sort((a, b) => a.operationId.localeCompare(b.operationId)).slice(0, limit);
      return { operations: page, nextCursor: page.length === limit ? (page.at(-1)?.operationId ?? null) : null };
    },
    get: async (id) => rows.get(id) ?? null,
    findByExecutionArn: async (arn) => [...rows.values()].find((o) => o.executionArn === arn) ?? null,
    recordHostState: async (workspaceId, name, onHost) => {
      recorded.push([workspaceId, name, onHost]);
      return onHost ? 'recorded' : 'forgotten';
    },
    failStale: async (id, error) => {
      closed.push([id, error]);
      const row = rows.get(id);
      if (row?.status !== 'RUNNING') return false;
      row.status = 'FAILED';
      return true;
    },
  };
  const deps: ReconcileDeps = {
    store,
    workspaces: fakeWorkspaces([WORKSPACE]),
    executions: {
      describe: async (arn) => {
        const found = opts.executions?.[arn.slice(ARN_PREFIX.length)];
        if (found instanceof Error) throw found;
        return found ?? null;
      },
    },
    workflow: { executionArnFor: (name) => `${ARN_PREFIX}${name}` },
    host: {
      probe: async (workspace, name) => {
        probed.push(`${workspace.id}/${name}`);
        if (opts.host instanceof Error) throw opts.host;
        return opts.host ?? { present: false };
      },
    },
    log: logger,
  };
  return { deps, rows, recorded, closed, probed };
}

const SWEEP = { graceMs: 20_000, batch: 2 };
const INSTALLED = { sha256: SHA, source: 'local://hello-skill', version: '1.1.0', skills: ['hello'], runtimes: ['claude-code'] };

describe('reconciling operations whose execution may have ended', () => {
  it('leaves an operation whose execution still runs as it is, without asking the host', async () => {
    const t = setup({ operations: [operation('op-run')], executions: { 'op-run': { status: 'RUNNING' } } });

    const summary = await reconcileStale(t.deps, SWEEP);

    expect(summary.results).toEqual([{ operationId: 'op-run', outcome: 'running' }]);
    expect(t.probed).toEqual([]);
    expect(t.closed).toEqual([]);
  });

  it('closes an operation whose execution was lost with its engine, recording what the host has', async () => {
    const t = setup({ operations: [operation('op-lost')], host: { present: true, version: '1.1.0', installed: INSTALLED } });

    const summary = await reconcileStale(t.deps, SWEEP);

    expect(t.probed).toEqual(['ws-1/hello-skill']);
    expect(t.recorded).toEqual([['ws-1', 'hello-skill', INSTALLED]]);
    expect(t.closed).toEqual([
      [
        'op-lost',
        {
          code: 'delivery_failed',
          httpStatus: 502,
          message: 'the workflow stopped before the operation finished (its execution no longer exists)',
        },
      ],
    ]);
    expect(summary.results[0]).toMatchObject({ outcome: 'closed', host: 'recorded' });
    expect(t.rows.get('op-lost')?.status).toBe('FAILED');
  });

  it.each([
    ['FAILED', 'its execution failed'],
    ['TIMED_OUT', 'its execution timed out'],
    ['ABORTED', 'its execution was aborted'],
  ] as const)('closes an operation whose execution ended %s, forgetting a plugin the host no longer has', async (status, why) => {
    const t = setup({ operations: [operation('op-end')], executions: { 'op-end': { status, error: 'States.Timeout' } }, host: { present: false } });

    await reconcileStale(t.deps, SWEEP);

    expect(t.recorded).toEqual([['ws-1', 'hello-skill', null]]);
    expect(t.closed[0]?.[1]).toEqual({ code: 'delivery_failed', httpStatus: 502, message: `the workflow stopped before the operation finished (${why})` });
  });

  it("closes with the execution's own documented error when a step threw one that nothing recorded", async () => {
    const cause = JSON.stringify({ errorMessage: 'the workspace is not reachable' });
    const t = setup({ operations: [operation('op-own')], executions: { 'op-own': { status: 'FAILED', error: 'WorkspaceUnreachable', cause } } });

    await reconcileStale(t.deps, SWEEP);

    expect(t.closed[0]?.[1]).toEqual({ code: 'workspace_unreachable', httpStatus: 503, message: 'the workspace is not reachable' });
  });

  it('still closes the operation when the host cannot be reached, leaving the record and saying so', async () => {
    const t = setup({ operations: [operation('op-far')], executions: { 'op-far': { status: 'ABORTED' } }, host: new Error('connect ETIMEDOUT') });

    const summary = await reconcileStale(t.deps, SWEEP);

    expect(t.recorded).toEqual([]);
    expect(t.closed[0]?.[1].code).toBe('delivery_failed');
    expect(t.closed[0]?.[1].message).toBe(
      'the workflow stopped before the operation finished (its execution was aborted); ' +
        'the workspace could not be asked what it has, so its plugin record was left as it was',
    );
    expect(summary.results[0]).toMatchObject({ outcome: 'closed', host: 'unreachable' });
  });

  it('asks the host when the execution succeeded but its result was never recorded', async () => {
    const t = setup({
      operations: [operation('op-won')],
      executions: { 'op-won': { status: 'SUCCEEDED' } },
      host: { present: true, version: '1.1.0', installed: INSTALLED },
    });

    await reconcileStale(t.deps, SWEEP);

    expect(t.recorded).toEqual([['ws-1', 'hello-skill', INSTALLED]]);
    expect(t.closed[0]?.[1].message).toBe('the workflow stopped before the operation finished (its execution succeeded without recording the result)');
  });

  it('leaves the record of a plugin the host has but cannot identify, and says so', async () => {
    const t = setup({ operations: [operation('op-anon')], host: { present: true, version: '0.9.0', installed: null } });

    const summary = await reconcileStale(t.deps, SWEEP);

    expect(t.recorded).toEqual([]);
    expect(t.closed[0]?.[1].message).toMatch(/has the plugin but not what identifies it/);
    expect(summary.results[0]).toMatchObject({ host: 'unidentified' });
  });

  it('takes the version from plugin.yaml when the install marker has none', async () => {
    const t = setup({ operations: [operation('op-ver')], host: { present: true, version: '2.0.0', installed: { ...INSTALLED, version: null } } });

    await reconcileStale(t.deps, SWEEP);

    expect(t.recorded[0]?.[2]).toMatchObject({ version: '2.0.0' });
  });

  it('does not ask the host for an install that never named its plugin (stopped before Stage)', async () => {
    const t = setup({ operations: [operation('op-early', { plugin: null, executionArn: null })] });

    const summary = await reconcileStale(t.deps, SWEEP);

    expect(t.probed).toEqual([]);
    expect(t.closed[0]?.[1].message).toBe('the workflow stopped before the operation finished (its execution no longer exists)');
    expect(summary.results[0]).toMatchObject({ outcome: 'closed', host: 'not-touched' });
  });

  it('says the execution never started when no execution ARN is known or derivable', async () => {
    const t = setup({ operations: [operation('op-none', { executionArn: null })] });
    t.deps.workflow = { executionArnFor: () => null };

    await reconcileStale(t.deps, SWEEP);

    expect(t.closed[0]?.[1].message).toBe('the workflow stopped before the operation finished (its execution never started)');
  });

  it('leaves an operation for the next sweep when Step Functions cannot say whether it runs', async () => {
    const t = setup({ operations: [operation('op-unk')], executions: { 'op-unk': new Error('ThrottlingException') } });

    const summary = await reconcileStale(t.deps, SWEEP);

    expect(summary.results).toEqual([{ operationId: 'op-unk', outcome: 'unknown', reason: 'the execution could not be described' }]);
    expect(t.closed).toEqual([]);
  });

  it('reports an operation a late Record closed first as already closed', async () => {
    const t = setup({ operations: [operation('op-late')] });
    t.deps.store.failStale = async () => false;

    const summary = await reconcileStale(t.deps, SWEEP);

    expect(summary.results[0]).toMatchObject({ operationId: 'op-late', outcome: 'already-closed' });
  });

  it('goes through every page of stale operations, a bounded batch at a time', async () => {
    const ids = ['op-a', 'op-b', 'op-c', 'op-d', 'op-e'];
    const t = setup({ operations: ids.map((id) => operation(id)), executions: { 'op-b': { status: 'RUNNING' } } });

    const summary = await reconcileStale(t.deps, SWEEP);

    expect(summary.checked).toBe(5);
    expect(t.closed.map(([id]) => id)).toEqual(['op-a', 'op-c', 'op-d', 'op-e']);
  });
});

describe('reconciling the execution an EventBridge status change names', () => {
  it("closes that execution's operation", async () => {
    const t = setup({ operations: [operation('op-ev')], executions: { 'op-ev': { status: 'TIMED_OUT', error: 'States.Timeout' } } });

    const result = await reconcileExecution(t.deps, `${ARN_PREFIX}op-ev`);

    expect(result).toMatchObject({ operationId: 'op-ev', outcome: 'closed' });
    expect(t.closed[0]?.[1].message).toBe('the workflow stopped before the operation finished (its execution timed out)');
  });

  it('ignores an execution whose operation is unknown, closed, or bound to another execution', async () => {
    const t = setup({
      operations: [operation('op-done', { status: 'SUCCEEDED' }), operation('op-other', { executionArn: `${ARN_PREFIX}op-other-2` })],
    });

    expect(await reconcileExecution(t.deps, `${ARN_PREFIX}op-nobody`)).toBeNull();
    expect(await reconcileExecution(t.deps, `${ARN_PREFIX}op-done`)).toBeNull();
    expect(await reconcileExecution(t.deps, `${ARN_PREFIX}op-other`)).toBeNull();
    expect(t.closed).toEqual([]);
  });
});

describe('reconciling through Step Functions under its faults', () => {
  const sfn = mockClient(SFNClient);
  beforeEach(() => sfn.reset());
  afterAll(() => sfn.restore());
  const reader = () => sfnExecutions(new SFNClient({ region: 'us-east-1' }));

  it('leaves the operation for the next sweep when DescribeExecution is throttled', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .rejects(new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' }));
    const t = setup({ operations: [operation('op-throttled')] });

    const summary = await reconcileStale({ ...t.deps, executions: reader() }, SWEEP);

    expect(summary.results).toEqual([{ operationId: 'op-throttled', outcome: 'unknown', reason: 'the execution could not be described' }]);
    expect(t.closed).toEqual([]);
  });

  it('closes the operation of an execution Step Functions does not know', async () => {
    sfn.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ $metadata: { httpStatusCode: 400 }, message: 'Execution Does Not Exist: arn' }));
    const t = setup({ operations: [operation('op-lost')] });

    await reconcileStale({ ...t.deps, executions: reader() }, SWEEP);

    expect(t.closed[0]?.[1]).toMatchObject({ code: 'delivery_failed', message: expect.stringContaining('its execution no longer exists') });
  });

  it("never takes an execution that failed with an AWS error's name for one of ours, nor echoes its text", async () => {
    const message = 'We encountered an internal error. Please try again.';
    sfn.on(DescribeExecutionCommand).resolves({
      status: 'FAILED',
      error: 'InternalError',
      cause: JSON.stringify({ errorType: 'InternalError', errorMessage: message, trace: [] }),
    } as never);
    const t = setup({ operations: [operation('op-s3', { plugin: null })] });

    await reconcileStale({ ...t.deps, executions: reader() }, SWEEP);

    expect(t.closed[0]?.[1]).toMatchObject({ code: 'delivery_failed', httpStatus: 502 });
    expect(t.closed[0]?.[1].message).not.toContain(message);
  });
});
