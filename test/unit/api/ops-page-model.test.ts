import { beforeAll, describe, expect, it } from 'vitest';
import { synthesizeDefinition, TASK_STATES } from '../../../infra/workflow.js';

/** The page's plain-JavaScript model (lambdas/api/ops-page/model.js), typed here for the test only. */
interface StepView {
  name: string;
  state: string;
  label: string;
  durationMs?: number | null;
  attempts: number;
  retries: Array<{ error: string; at?: string }>;
  transport?: string | null;
  commandId?: string | null;
  error?: { code: string; message: string } | null;
  outputTail: string[];
}
interface Model {
  WORKFLOW: Record<string, readonly string[]>;
  FAILURE_STEP: string;
  layoutSteps(op: unknown): { main: StepView[]; failure: StepView };
  failureSummary(op: unknown): string;
  formatDuration(ms: unknown): string;
  operationsPath(filters: Record<string, string>, page?: { limit?: number; cursor?: string | null }): string;
  safeConsoleUrl(value: unknown): string | null;
  nextDelay(failures: number, opts?: { base?: number; max?: number; random?: () => number }): number;
}

let model: Model;
beforeAll(async () => {
  const specifier = '../../../lambdas/api/ops-page/model.js';
  model = (await import(specifier)) as Model;
});

type Rule = { StringEquals?: string; Or?: Rule[]; Next?: string };
type State = { Type: string; Next?: string; Choices?: Rule[]; Default?: string; Catch?: Array<{ Next: string }> };

const matches = (rule: Rule, kind: string): boolean => rule.StringEquals === kind || (rule.Or ?? []).some((r) => matches(r, kind));

/**
 * The steps one kind runs, read off the synthesized state machine by following `Next` from ByKind
 * (a later Choice by its Default, the way a healthy run goes), each Task state named by the step it invokes.
 */
function tasksFor(kind: string): string[] {
  const { definition } = synthesizeDefinition();
  const states = definition.States as Record<string, State>;
  const choice = states[definition.StartAt as string]!;
  let name: string | undefined = choice.Choices!.find((c) => matches(c, kind))!.Next;
  const tasks: string[] = [];
  while (name) {
    const state: State = states[name]!;
    if (state.Type === 'Task') tasks.push(TASK_STATES[name]!);
    name = state.Type === 'Choice' ? state.Default : state.Next;
  }
  return tasks;
}

const op = (overrides: Record<string, unknown>) => ({
  operationId: '0f0e0d0c-0000-4000-8000-000000000001',
  workspaceId: 'ws-1',
  kind: 'install',
  status: 'RUNNING',
  steps: [],
  ...overrides,
});

describe('the workflow the page draws', () => {
  it('lists the Task states of each kind in the order the state machine runs them', () => {
    for (const kind of ['install', 'uninstall', 'rollback', 'plan', 'verify', 'repair']) expect([...model.WORKFLOW[kind]!], kind).toEqual(tasksFor(kind));
  });

  it('draws RecordFailure as the branch every step is caught into', () => {
    const states = synthesizeDefinition().definition.States as Record<string, State>;
    for (const task of tasksFor('install')) expect(states[task]!.Catch?.map((c) => c.Next)).toEqual([model.FAILURE_STEP]);
  });
});

describe('layoutSteps', () => {
  it('shows an install that failed at Deliver: earlier steps succeeded, Deliver failed with the error, the rest not reached', () => {
    const { main, failure } = model.layoutSteps(
      op({
        status: 'FAILED',
        error: { code: 'workspace_unreachable', message: 'instance i-1 is stopped', httpStatus: 503 },
        steps: [
          { name: 'Stage', status: 'SUCCEEDED', startedAt: '2026-12-01T10:00:00.000Z', endedAt: '2026-12-01T10:00:01.500Z' },
          { name: 'CheckAllowlist', status: 'SUCCEEDED', startedAt: '2026-12-01T10:00:01.600Z', endedAt: '2026-12-01T10:00:01.700Z' },
          { name: 'Deliver', status: 'FAILED', startedAt: '2026-12-01T10:00:02.000Z', endedAt: '2026-12-01T10:00:05.000Z' },
          { name: 'RecordFailure', status: 'SUCCEEDED', startedAt: '2026-12-01T10:00:05.100Z', endedAt: '2026-12-01T10:00:05.200Z' },
        ],
      }),
    );
    expect(main.map((s) => [s.name, s.label])).toEqual([
      ['Stage', 'succeeded'],
      ['CheckAllowlist', 'succeeded'],
      ['Deliver', 'failed'],
      ['Restart', 'not reached'],
      ['VerifyHealth', 'not reached'],
      ['Record', 'not reached'],
    ]);
    expect(main[0]!.durationMs).toBe(1500);
    expect(main[2]!.error).toEqual({ code: 'workspace_unreachable', message: 'instance i-1 is stopped' });
    expect(main.filter((s) => s.error)).toHaveLength(1);
    expect(failure).toMatchObject({ name: 'RecordFailure', label: 'succeeded' });
  });

  it('counts the failure branch as run when the operation is FAILED without a RecordFailure record, and not reached otherwise', () => {
    const steps = [{ name: 'Stage', status: 'FAILED', startedAt: 'x' }];
    expect(model.layoutSteps(op({ status: 'FAILED', error: { code: 'fetch_failed', message: 'm' }, steps })).failure.label).toBe('succeeded');
    expect(model.layoutSteps(op({ status: 'RUNNING', steps })).failure.label).toBe('not reached');
  });

  it("keeps a step's own error, attempts, retries, transport and output tail", () => {
    const { main } = model.layoutSteps(
      op({
        status: 'FAILED',
        error: { code: 'delivery_failed', message: 'operation-level', httpStatus: 502 },
        steps: [
          {
            name: 'Deliver',
            status: 'FAILED',
            startedAt: '2026-12-01T10:00:02.000Z',
            durationMs: 4200,
            attempts: 3,
            retries: [
              { error: 'AwsThrottled', at: '2026-12-01T10:00:03.000Z' },
              { error: 'AwsThrottled', at: '2026-12-01T10:00:04.000Z' },
            ],
            transport: 'ssm',
            commandId: 'cmd-123',
            error: { code: 'workspace_unreachable', message: 'step-level' },
            outputTail: ['line 1', 'line 2'],
          },
        ],
      }),
    );
    const deliver = main.find((s) => s.name === 'Deliver')!;
    expect(deliver).toMatchObject({ durationMs: 4200, attempts: 3, transport: 'ssm', commandId: 'cmd-123', outputTail: ['line 1', 'line 2'] });
    expect(deliver.retries.map((r) => r.error)).toEqual(['AwsThrottled', 'AwsThrottled']);
    expect(deliver.error).toEqual({ code: 'workspace_unreachable', message: 'step-level' });
  });

  it('shows a step left RUNNING in a finished operation as where it stopped (failed), and running while the operation runs', () => {
    const running = { name: 'Deliver', status: 'RUNNING', startedAt: '2026-12-01T10:00:02.000Z' };
    expect(model.layoutSteps(op({ steps: [running] })).main[2]).toMatchObject({ label: 'running', durationMs: null });
    const stopped = model.layoutSteps(op({ status: 'FAILED', error: { code: 'delivery_failed', message: 'the workflow stopped' }, steps: [running] }));
    expect(stopped.main[2]).toMatchObject({ label: 'failed', error: { code: 'delivery_failed' } });
  });

  it('draws an uninstall as Remove, Restart, VerifyHealth, Record, with a skipped Restart (and the gate, which uninstall skips) labelled as such', () => {
    const { main } = model.layoutSteps(
      op({
        kind: 'uninstall',
        status: 'SUCCEEDED',
        steps: [
          { name: 'Remove', status: 'SUCCEEDED', startedAt: 'x' },
          { name: 'Restart', status: 'SKIPPED', startedAt: 'x' },
          { name: 'VerifyHealth', status: 'SKIPPED', startedAt: 'x' },
          { name: 'Record', status: 'SUCCEEDED', startedAt: 'x' },
        ],
      }),
    );
    expect(main.map((s) => `${s.name}:${s.label}`)).toEqual(['Remove:succeeded', 'Restart:skipped', 'VerifyHealth:skipped', 'Record:succeeded']);
    expect(main[0]!.durationMs).toBeNull();
  });

  it('shows a step the page does not know after the known ones rather than dropping it', () => {
    const { main } = model.layoutSteps(op({ steps: [{ name: 'Inventory', status: 'RUNNING', startedAt: 'x' }] }));
    expect(main.map((s) => s.name)).toEqual(['Stage', 'CheckAllowlist', 'Deliver', 'Restart', 'VerifyHealth', 'Record', 'Inventory']);
  });

  it('summarizes a failed operation as its failed step and code for the table', () => {
    const failed = op({
      status: 'FAILED',
      error: { code: 'plugin_not_allowed', message: 'no' },
      steps: [{ name: 'CheckAllowlist', status: 'FAILED', startedAt: 'x' }],
    });
    expect(model.failureSummary(failed)).toBe('CheckAllowlist: plugin_not_allowed');
    expect(model.failureSummary(op({ status: 'FAILED', error: { code: 'delivery_failed', message: 'lost' } }))).toBe('delivery_failed');
    expect(model.failureSummary(op({ status: 'SUCCEEDED' }))).toBe('');
  });
});

describe('formatting and queries', () => {
  it('formats durations for people', () => {
    expect(model.formatDuration(850)).toBe('850 ms');
    expect(model.formatDuration(12_345)).toBe('12.3 s');
    expect(model.formatDuration(245_000)).toBe('4 min 05 s');
    expect(model.formatDuration(null)).toBe('—');
  });

  it('asks GET /operations for the filled-in filters only, `since` as an instant, with the page cursor', () => {
    expect(model.operationsPath({ status: '', workspaceId: '  ' })).toBe('/operations');
    const path = model.operationsPath({ status: 'FAILED', workspaceId: 'ws-1', plugin: 'a b', since: '2026-12-01T10:00' }, { limit: 50, cursor: 'c1' });
    const query = new URLSearchParams(path.split('?')[1]);
    expect(path.startsWith('/operations?')).toBe(true);
    expect(Object.fromEntries(query)).toEqual({
      status: 'FAILED',
      workspaceId: 'ws-1',
      plugin: 'a b',
      since: new Date('2026-12-01T10:00').toISOString(),
      limit: '50',
      cursor: 'c1',
    });
    // Something that is not a date-time is left for the API to reject, naming the field.
    expect(model.operationsPath({ since: 'yesterday' })).toBe('/operations?since=yesterday');
  });

  it('links only to the AWS console over https', () => {
    const good = 'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:1:execution:m:n';
    expect(model.safeConsoleUrl(good)).toBe(good);
    for (const bad of [
      'javascript:alert(1)',
      'http://eu-west-1.console.aws.amazon.com/x',
      'https://console.aws.amazon.com.evil.example/x',
      'data:text/html,x',
      null,
      42,
    ]) {
      expect(model.safeConsoleUrl(bad), String(bad)).toBeNull();
    }
  });

  it('polls every 2 s and backs off on errors, doubling up to the cap, with jitter', () => {
    const top = () => 1;
    expect(model.nextDelay(0)).toBe(2000);
    expect(model.nextDelay(1, { random: top })).toBe(4000);
    expect(model.nextDelay(2, { random: top })).toBe(8000);
    expect(model.nextDelay(10, { random: top })).toBe(30_000);
    expect(model.nextDelay(10, { random: () => 0 })).toBe(15_000);
  });
});
