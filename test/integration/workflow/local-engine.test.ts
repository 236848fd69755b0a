import { afterEach, describe, expect, it } from 'vitest';
import { errorFromStepFailure } from '../../../lambdas/shared/errors.js';
import type { WorkflowState } from '../../../lambdas/workflow/steps/state.js';
import { createLocalEngine, type LocalEngine } from '../../../local/sfn/engine.js';
import { definition, engineWith, installState, namedError, recordingHandlers, taskStates, uninstallState } from '../../support/workflow-fixtures.js';

let engine: LocalEngine | undefined;
afterEach(() => engine?.stop());

async function run(recorder: ReturnType<typeof recordingHandlers>, input: WorkflowState) {
  engine = engineWith(recorder);
  const { executionArn } = engine.startExecution(undefined, input);
  const result = await engine.waitForExecution(executionArn);
  return { result, history: engine.history(executionArn), executionArn };
}

describe('the workflow on the local engine', () => {
  it('runs an install through Stage, CheckAllowlist, Deliver, Restart, VerifyHealth and Record, and succeeds', async () => {
    const recorder = recordingHandlers();
    const { result } = await run(recorder, installState());

    expect(result.status).toBe('SUCCEEDED');
    expect(recorder.calls).toEqual(['Stage', 'CheckAllowlist', 'Deliver', 'Restart', 'VerifyHealth', 'Record']);
    // Each step's output is the next step's input.
    expect(recorder.inputs.Deliver?.[0]).toMatchObject({ visitedStage: true, visitedCheckAllowlist: true });
    expect(JSON.parse(result.output ?? 'null')).toMatchObject({ operationId: 'op-1', visitedRecord: true });
    expect(result.stopDate).toBeInstanceOf(Date);
  });

  it('stays within 9 state transitions for a successful install, health gate included', async () => {
    const { history } = await run(recordingHandlers(), installState());

    expect(history.transitionCount).toBeLessThanOrEqual(9);
    expect(history.events.filter((e) => e.type === 'StateEntered').map((e) => e.state?.name)).toEqual([
      'ByKind',
      'Stage',
      'CheckAllowlist',
      'Deliver',
      'Restart',
      'VerifyHealth',
      'Record',
      'Verdict',
      'Done',
    ]);
  });

  it('runs an uninstall through Remove, Restart, VerifyHealth (which lets it pass) and Record', async () => {
    const recorder = recordingHandlers();
    const { result } = await run(recorder, uninstallState());

    expect(result.status).toBe('SUCCEEDED');
    expect(recorder.calls).toEqual(['Remove', 'Restart', 'VerifyHealth', 'Record']);
  });

  it('runs a rollback the way it runs an install', async () => {
    const recorder = recordingHandlers();
    const { result } = await run(recorder, { ...installState(), kind: 'rollback', plugin: 'demo', revision: 1 } as WorkflowState);

    expect(result.status).toBe('SUCCEEDED');
    expect(recorder.calls).toEqual(['Stage', 'CheckAllowlist', 'Deliver', 'Restart', 'VerifyHealth', 'Record']);
  });

  it('plans through its own Stage and CheckAllowlist states and Plan, never reaching a host step', async () => {
    const recorder = recordingHandlers();
    const { result, history } = await run(recorder, { ...installState(), kind: 'plan' } as WorkflowState);

    expect(result.status).toBe('SUCCEEDED');
    expect(recorder.calls).toEqual(['PlanStage', 'PlanCheckAllowlist', 'Plan']);
    expect(history.events.filter((e) => e.type === 'StateEntered').map((e) => e.state?.name)).toEqual([
      'ByKind',
      'PlanStage',
      'PlanCheckAllowlist',
      'Plan',
      'Done',
    ]);
  });

  it('fails the execution as HealthCheckFailed once Record closed an operation the health gate found unhealthy', async () => {
    const recorder = recordingHandlers({
      VerifyHealth: async (state) => ({ ...state, phase: 'verified', health: { healthy: false, rolledBack: true, output: ['unhealthy'], checks: 30 } }),
    });
    const { result } = await run(recorder, installState());

    expect(recorder.calls).toEqual(['Stage', 'CheckAllowlist', 'Deliver', 'Restart', 'VerifyHealth', 'Record']);
    expect(result).toMatchObject({ status: 'FAILED', error: 'HealthCheckFailed' });
  });

  it('retries a busy workspace and then succeeds', async () => {
    const recorder = recordingHandlers({
      Deliver: async (state, attempt) => {
        if (attempt === 1) throw namedError('WorkspaceBusy', 'another operation holds the workspace');
        return state;
      },
    });
    const { result, history } = await run(recorder, installState());

    expect(result.status).toBe('SUCCEEDED');
    expect(recorder.calls).toEqual(['Stage', 'CheckAllowlist', 'Deliver', 'Deliver', 'Restart', 'VerifyHealth', 'Record']);
    expect(history.events.filter((e) => e.type === 'StateRetried').map((e) => [e.state?.name, e.retryAttempt])).toEqual([['Deliver', 1]]);
  });

  it('gives up on a transient error after the retries and records the failure', async () => {
    const recorder = recordingHandlers({
      Stage: async () => {
        throw namedError('FetchFailed', 'the source host did not answer');
      },
    });
    const { result } = await run(recorder, installState());

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('FetchFailed');
    expect(recorder.calls).toEqual(['Stage', 'Stage', 'Stage', 'Stage', 'Stage', 'RecordFailure']);
  });

  it('sends a permanent error with the original state to RecordFailure and fails without running later steps', async () => {
    const recorder = recordingHandlers({
      Stage: async () => {
        throw namedError('InvalidArchive', 'archive entry escapes the plugin root');
      },
    });
    const input = installState();
    const { result } = await run(recorder, input);

    expect(recorder.calls).toEqual(['Stage', 'RecordFailure']);
    const failure = recorder.inputs.RecordFailure?.[0];
    expect(failure).toMatchObject({ ...input, error: { Error: 'InvalidArchive' } });
    // Cause is what the Lambda runtime reports: JSON with errorType and errorMessage.
    expect(JSON.parse(failure?.error?.Cause ?? '')).toMatchObject({ errorType: 'InvalidArchive', errorMessage: 'archive entry escapes the plugin root' });
    expect(errorFromStepFailure(failure?.error)).toEqual({ code: 'invalid_archive', message: 'archive entry escapes the plugin root', httpStatus: 422 });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidArchive');
    expect(result.cause).toBe(failure?.error?.Cause);
  });

  it('records the failure when Deliver fails after staging', async () => {
    const recorder = recordingHandlers({
      Deliver: async () => {
        throw namedError('WorkspaceUnreachable', 'instance is stopped');
      },
    });
    const { result } = await run(recorder, installState());

    expect(recorder.calls).toEqual(['Stage', 'CheckAllowlist', 'Deliver', 'RecordFailure']);
    expect(recorder.inputs.RecordFailure?.[0]).toMatchObject({ visitedStage: true, visitedCheckAllowlist: true, error: { Error: 'WorkspaceUnreachable' } });
    expect(result).toMatchObject({ status: 'FAILED', error: 'WorkspaceUnreachable' });
  });

  it('still fails with the step error when recording the failure fails too', async () => {
    const recorder = recordingHandlers({
      Restart: async () => {
        throw namedError('DeliveryFailed', 'restart command failed');
      },
      RecordFailure: async () => {
        throw namedError('InternalError', 'database rejected the update');
      },
    });
    const { result } = await run(recorder, installState());

    expect(result).toMatchObject({ status: 'FAILED', error: 'DeliveryFailed' });
  });

  it('records an unknown operation kind as a failed operation', async () => {
    const recorder = recordingHandlers();
    const { result } = await run(recorder, installState({ kind: 'upgrade' as WorkflowState['kind'] }));

    expect(recorder.calls).toEqual(['RecordFailure']);
    expect(result).toMatchObject({ status: 'FAILED', error: 'InvalidRequest' });
  });

  it('fails without recording, as AWS does, when a step returns more than the 256 KiB payload quota', async () => {
    const recorder = recordingHandlers({ Stage: async (state) => ({ ...state, staged: { warnings: ['x'.repeat(300 * 1024)] } }) });
    const { result } = await run(recorder, installState());

    expect(result).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
    expect(recorder.calls).toEqual(['Stage']);
  });

  it('reports a step timeout as States.Timeout and records it', async () => {
    const slow = {
      ...definition,
      States: { ...(definition.States as object), CheckAllowlist: { ...(definition.States as Record<string, object>).CheckAllowlist, TimeoutSeconds: 1 } },
    };
    const recorder = recordingHandlers({ CheckAllowlist: () => new Promise(() => undefined) });
    engine = createLocalEngine({ definition: slow, handlers: recorder.handlers });
    const { executionArn } = engine.startExecution('slow', installState());
    const result = await engine.waitForExecution(executionArn);

    expect(recorder.calls).toEqual(['Stage', 'CheckAllowlist', 'RecordFailure']);
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.Timeout' });
  });

  it('aborts a running execution on StopExecution and runs no further step', async () => {
    let release!: () => void;
    const recorder = recordingHandlers({ Stage: (state) => new Promise((resolve) => (release = () => resolve(state))) });
    engine = engineWith(recorder);
    const { executionArn } = engine.startExecution('to-stop', installState());
    await new Promise((resolve) => setTimeout(resolve, 10));

    engine.stopExecution(executionArn, { error: 'Cancelled', cause: 'operator' });
    release();
    const result = await engine.waitForExecution(executionArn);

    expect(result).toMatchObject({ status: 'ABORTED', error: 'Cancelled', cause: 'operator' });
    expect(recorder.calls).toEqual(['Stage']);
  });
});

describe('the local engine', () => {
  it('refuses a definition with a Task state that has no handler', () => {
    const { handlers } = recordingHandlers();
    const { Deliver: _deliver, ...withoutDeliver } = handlers;
    expect(() => createLocalEngine({ definition, handlers: withoutDeliver })).toThrow(/Deliver/);
  });

  it('refuses a handler for a state the definition does not have', () => {
    const { handlers } = recordingHandlers();
    expect(() => createLocalEngine({ definition, handlers: { ...handlers, Deploy: async () => ({}) } })).toThrow(/Deploy/);
  });

  it('returns the same execution for the same name and input, and refuses a different input', async () => {
    let release!: () => void;
    const recorder = recordingHandlers({ Stage: (state) => new Promise((resolve) => (release = () => resolve(state))) });
    engine = engineWith(recorder);
    const first = engine.startExecution('op-1', installState());
    await new Promise((resolve) => setTimeout(resolve, 10));

    expect(engine.startExecution('op-1', installState())).toEqual(first);
    expect(() => engine?.startExecution('op-1', installState({ source: 'local://other' }))).toThrow(
      expect.objectContaining({ name: 'ExecutionAlreadyExists' }),
    );
    release();
    await engine.waitForExecution(first.executionArn);
    // As on AWS, a closed execution's name cannot be reused.
    expect(() => engine?.startExecution('op-1', installState())).toThrow(expect.objectContaining({ name: 'ExecutionAlreadyExists' }));
    expect(recorder.calls.filter((c) => c === 'Stage')).toHaveLength(1);
  });

  it('forgets the oldest finished executions beyond its limit', async () => {
    const recorder = recordingHandlers();
    engine = createLocalEngine({ definition, handlers: recorder.handlers, maxFinishedExecutions: 2 });
    const arns: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      const { executionArn } = engine.startExecution(name, installState());
      await engine.waitForExecution(executionArn);
      arns.push(executionArn);
    }
    engine.startExecution('d', installState());

    expect(() => engine?.describeExecution(arns[0] ?? '')).toThrow(expect.objectContaining({ name: 'ExecutionDoesNotExist' }));
    expect(engine.describeExecution(arns[1] ?? '').status).toBe('SUCCEEDED');
    expect(engine.listExecutions().map((e) => e.name)).toEqual(['d', 'c', 'b']);
  });

  it('rejects execution names AWS would reject', () => {
    engine = engineWith(recordingHandlers());
    expect(() => engine?.startExecution('has space', {})).toThrow(expect.objectContaining({ name: 'InvalidName' }));
    expect(() => engine?.startExecution('x'.repeat(81), {})).toThrow(expect.objectContaining({ name: 'InvalidName' }));
  });

  it('reports every event to onEvent with the execution ARN', async () => {
    const seen: string[] = [];
    engine = createLocalEngine({
      definition,
      handlers: recordingHandlers().handlers,
      onEvent: (event) => seen.push(`${event.executionArn.split(':').at(-1)} ${event.type} ${event.state?.name ?? ''}`.trim()),
    });
    const { executionArn } = engine.startExecution('watched', uninstallState());
    await engine.waitForExecution(executionArn);

    expect(seen[0]).toBe('watched ExecutionStarted');
    expect(seen).toContain('watched StateEntered Remove');
    expect(seen.at(-1)).toBe('watched ExecutionSucceeded');
  });
});

it('binds a handler for every Task state of the synthesized definition', () => {
  expect(Object.keys(recordingHandlers().handlers).sort()).toEqual([...taskStates].sort());
});
