import { describe, expect, it } from 'vitest';
import { errorNamesRetried, TRANSIENT_ERROR_NAMES } from '../../../lambdas/shared/errors.js';
import { STEP_LAMBDA_TIMEOUTS, STEP_NAMES, synthesizeDefinition, TASK_STATES } from '../../../infra/workflow.js';

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}
interface State {
  Type: string;
  Next?: string;
  End?: boolean;
  Resource?: string;
  ResultPath?: string | null;
  TimeoutSeconds?: number;
  Retry?: Retrier[];
  Catch?: Array<{ ErrorEquals: string[]; Next: string; ResultPath?: string }>;
  Choices?: Array<{ Variable?: string; StringEquals?: string; Next: string; Or?: unknown[]; And?: unknown[] }>;
  Error?: string;
  Cause?: string;
  Default?: string;
  ErrorPath?: string;
  CausePath?: string;
}

const { definition, taskStates } = synthesizeDefinition();
const states = definition.States as Record<string, State>;
const state = (name: string): State => {
  const found = states[name];
  if (!found) throw new Error(`no state ${name}`);
  return found;
};

function keysDeep(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysDeep);
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([key, child]) => [key, ...keysDeep(child)]);
  return [];
}

/** The mean of a retrier's total wait over all its retries: full jitter waits half the interval on average. */
function meanRetryWaitSeconds(retrier: Retrier | undefined): number {
  if (!retrier) return 0;
  const { IntervalSeconds = 1, BackoffRate = 2, MaxAttempts = 3, MaxDelaySeconds = Infinity, JitterStrategy } = retrier;
  let total = 0;
  for (let attempt = 0; attempt < MaxAttempts; attempt++) total += Math.min(MaxDelaySeconds, IntervalSeconds * BackoffRate ** attempt);
  return JitterStrategy === 'FULL' ? total / 2 : total;
}

function retrierFor(s: State, error: string): Retrier | undefined {
  return s.Retry?.find((r) => r.ErrorEquals.includes(error));
}

describe('the synthesized workflow definition', () => {
  it('uses JSONPath only: no QueryLanguage, no Assign, no distributed Map anywhere', () => {
    const keys = keysDeep(definition);
    expect(keys).not.toContain('QueryLanguage');
    expect(keys).not.toContain('Assign');
    expect(keys).not.toContain('ItemReader');
    expect(keys).not.toContain('ProcessorConfig');
  });

  it('has a Task per step (the plan path has two of its own on the same functions), each invoking its Lambda directly with the whole state', () => {
    expect([...taskStates].sort()).toEqual(Object.keys(TASK_STATES).sort());
    expect([...new Set(Object.values(TASK_STATES))].sort()).toEqual([...STEP_NAMES].sort());
    for (const name of taskStates) {
      const task = state(name);
      expect(task.Resource).toMatch(/^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:/);
      expect(task.Resource?.endsWith(`molecule-${TASK_STATES[name]}`), name).toBe(true);
      expect(task).not.toHaveProperty('Parameters');
      expect(task).not.toHaveProperty('InputPath');
      expect(task.TimeoutSeconds).toBeGreaterThan(0);
    }
  });

  it('routes install and rollback, uninstall, plan, verify and repair by kind, and records anything else as a failure', () => {
    const byKind = state(definition.StartAt as string);
    expect(definition.StartAt).toBe('ByKind');
    expect(byKind.Type).toBe('Choice');
    expect(byKind.Choices).toEqual([
      {
        Or: [
          { Variable: '$.kind', StringEquals: 'install' },
          { Variable: '$.kind', StringEquals: 'rollback' },
        ],
        Next: 'Stage',
      },
      { Variable: '$.kind', StringEquals: 'uninstall', Next: 'Remove' },
      { Variable: '$.kind', StringEquals: 'plan', Next: 'PlanStage' },
      { Variable: '$.kind', StringEquals: 'rollout', Next: 'RolloutPrepare' },
      { Variable: '$.kind', StringEquals: 'verify', Next: 'Inventory' },
      { Variable: '$.kind', StringEquals: 'repair', Next: 'RepairInventory' },
    ]);
    expect(state(byKind.Default ?? '').Next).toBe('RecordFailure');
  });

  it('chains install through Stage, CheckAllowlist, Deliver and uninstall through Remove into the same Restart, VerifyHealth and Record', () => {
    expect(state('Stage').Next).toBe('CheckAllowlist');
    expect(state('CheckAllowlist').Next).toBe('Deliver');
    expect(state('Deliver').Next).toBe('Restart');
    expect(state('Remove').Next).toBe('Restart');
    expect(state('Restart').Next).toBe('VerifyHealth');
    expect(state('VerifyHealth').Next).toBe('Record');
    expect(state('Record').Next).toBe('Verdict');
    expect(state('Done').Type).toBe('Succeed');
  });

  it('fails the execution after Record when the health gate found the agent unhealthy, and succeeds otherwise', () => {
    const verdict = state('Verdict');
    expect(verdict.Type).toBe('Choice');
    expect(verdict.Choices).toEqual([
      {
        And: [
          { Variable: '$.health.healthy', IsPresent: true },
          { Variable: '$.health.healthy', BooleanEquals: false },
        ],
        Next: 'HealthCheckFailed',
      },
    ]);
    expect(verdict.Default).toBe('Done');
    expect(state('HealthCheckFailed')).toMatchObject({ Type: 'Fail', Error: 'HealthCheckFailed' });
  });

  it('plans through its own Stage and CheckAllowlist states into Plan, which ends the execution, never reaching the host steps', () => {
    expect(state('PlanStage').Next).toBe('PlanCheckAllowlist');
    expect(state('PlanCheckAllowlist').Next).toBe('Plan');
    expect(state('Plan').Next).toBe('Done');
  });

  it('verifies in Inventory alone, which ends the execution; repairs through its own Inventory and Stage states into Repair and the shared Restart', () => {
    expect(state('Inventory').Next).toBe('Done');
    expect(state('RepairInventory').Next).toBe('RepairStage');
    expect(state('RepairStage').Next).toBe('Repair');
    expect(state('Repair').Next).toBe('Restart');
  });

  it("catches every failure of every step into $.error and sends it to RecordFailure, a rollout driver's to RolloutFailed", () => {
    for (const name of taskStates.filter((n) => n !== 'RecordFailure' && n !== 'RolloutFailed')) {
      const target = TASK_STATES[name] === 'Rollout' ? 'RolloutFailed' : 'RecordFailure';
      expect(state(name).Catch, name).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: target }]);
    }
    expect(state('RolloutFailed').Next).toBe('RolloutDriverFailed');
    expect(state('RolloutDriverFailed')).toEqual({ Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' });
  });

  it('drives a rollout: prepare, then tick and wait the seconds the driver asks until it says done', () => {
    expect(state('RolloutPrepare').Next).toBe('RolloutNext');
    expect(state('RolloutTick').Next).toBe('RolloutNext');
    const next = state('RolloutNext');
    expect(next.Choices).toEqual([{ Variable: '$.done', BooleanEquals: true, Next: 'Done' }]);
    expect(next.Default).toBe('RolloutWait');
    expect(state('RolloutWait')).toEqual({ Type: 'Wait', SecondsPath: '$.waitSeconds', Next: 'RolloutTick' });
  });

  it('records a failure, then fails the execution with the step error, even if recording fails', () => {
    const recordFailure = state('RecordFailure');
    expect(recordFailure.Next).toBe('Failed');
    expect(recordFailure.ResultPath).toBeNull();
    expect(recordFailure.Catch?.map((c) => c.Next)).toEqual(['Failed']);
    expect(recordFailure.Catch?.[0]?.ResultPath).not.toBe('$.error');
    expect(state('Failed')).toEqual({ Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' });
  });

  it('retries transient errors with exponential backoff and full jitter on every step', () => {
    for (const name of taskStates) {
      const task = state(name);
      for (const error of [...TRANSIENT_ERROR_NAMES, 'Lambda.TooManyRequestsException', 'Lambda.ServiceException', 'Lambda.SdkClientException']) {
        const retrier = retrierFor(task, error);
        expect(retrier, `${name} retries ${error}`).toBeDefined();
        expect(retrier?.BackoffRate).toBeGreaterThan(1);
      }
      expect(retrierFor(task, 'FetchFailed')).toMatchObject({ JitterStrategy: 'FULL' });
      expect(retrierFor(task, 'AwsThrottled')).toMatchObject({ JitterStrategy: 'FULL' });
      expect(retrierFor(task, 'WorkspaceBusy')).toMatchObject({ JitterStrategy: 'FULL' });
    }
  });

  it('retries exactly the errors the error declaration marks transient, each under its policy', () => {
    for (const name of taskStates) {
      const task = state(name);
      const closing = ['Record', 'RecordFailure', 'Plan', 'RolloutFailed'].includes(name);
      for (const error of errorNamesRetried('backoff')) {
        expect(retrierFor(task, error), `${name} ${error}`).toMatchObject(
          closing ? { IntervalSeconds: 2, MaxAttempts: 8 } : { IntervalSeconds: 1, MaxAttempts: 4 },
        );
      }
      for (const error of errorNamesRetried('throttle'))
        expect(retrierFor(task, error), `${name} ${error}`).toBe(retrierFor(task, 'Lambda.TooManyRequestsException'));
      for (const error of errorNamesRetried('lease')) expect(retrierFor(task, error), `${name} ${error}`).toBe(retrierFor(task, 'WorkspaceBusy'));
      const ours = (task.Retry ?? []).flatMap((r) => r.ErrorEquals).filter((error) => !error.startsWith('Lambda.'));
      expect(ours.sort(), name).toEqual([...TRANSIENT_ERROR_NAMES].sort());
    }
  });

  it('rides out a throttling burst for over 2 minutes on average (full jitter) on every step, Lambda throttling included', () => {
    for (const name of taskStates) {
      const retrier = retrierFor(state(name), 'AwsThrottled');
      expect(retrier?.ErrorEquals, name).toContain('Lambda.TooManyRequestsException');
      expect(meanRetryWaitSeconds(retrier), name).toBeGreaterThanOrEqual(120);
    }
  });

  it('waits for a busy workspace about 6 minutes on average, asking again at most 5 s apart', () => {
    for (const name of taskStates) {
      const retrier = retrierFor(state(name), 'WorkspaceBusy');
      expect(meanRetryWaitSeconds(retrier), name).toBeGreaterThanOrEqual(300);
      // Only the oldest waiter may take a freed workspace: it must not sleep long past the moment it frees.
      expect(retrier?.MaxDelaySeconds, name).toBeLessThanOrEqual(5);
    }
  });

  it('keeps retrying Record and RecordFailure through a database failover: over 60 s of waits on average, fully jittered', () => {
    for (const name of ['Record', 'RecordFailure']) {
      const retrier = retrierFor(state(name), 'PlatformUnavailable');
      expect(retrier?.JitterStrategy).toBe('FULL');
      expect(meanRetryWaitSeconds(retrier), name).toBeGreaterThanOrEqual(60);
      // and one invocation has room for the in-function retries (a 60 s budget) on top
      expect(STEP_LAMBDA_TIMEOUTS[name as 'Record'].toSeconds(), name).toBeGreaterThan(60);
    }
  });

  it('never retries a permanent error or a step timeout', () => {
    for (const name of taskStates) {
      for (const error of ['InvalidArchive', 'PluginNotAllowed', 'States.Timeout', 'States.ALL', 'States.TaskFailed']) {
        expect(retrierFor(state(name), error), `${name} retries ${error}`).toBeUndefined();
      }
    }
  });

  it("gives every Task a timeout above its function's, and Stage and Deliver room for the 5 min fetch and delivery", () => {
    for (const [name, fn] of Object.entries(TASK_STATES)) {
      expect(state(name).TimeoutSeconds, name).toBeGreaterThan(STEP_LAMBDA_TIMEOUTS[fn].toSeconds());
    }
    expect(STEP_LAMBDA_TIMEOUTS.Stage.toSeconds()).toBeGreaterThan(300);
    expect(STEP_LAMBDA_TIMEOUTS.Deliver.toSeconds()).toBeGreaterThan(300);
  });
});
