import type { AcceptedState, WorkflowState } from '../../lambdas/workflow/steps/state.js';
import { synthesizeDefinition } from '../../infra/workflow.js';
import { createLocalEngine, type LocalEngine, type TaskHandler } from '../../local/sfn/engine.js';

export const { definition, taskStates } = synthesizeDefinition();

/** No real backoff in tests: every retry of every Task happens at once. */
const noRetryWaits = Object.fromEntries(taskStates.map((name) => [name, 0]));

export function installState(overrides: Partial<AcceptedState> = {}): WorkflowState {
  return {
    operationId: 'op-1',
    kind: 'install',
    workspace: { id: 'ws-1', orgId: 'org-1', runtime: 'claude-code', instanceId: 'i-0123456789abcdef0', transport: 'auto', status: 'online' },
    source: 'local://hello',
    plugin: null,
    expectedSha256: null,
    restart: true,
    uninstallAt: null,
    ...overrides,
  };
}

export function uninstallState(): WorkflowState {
  return installState({ kind: 'uninstall', source: null, plugin: 'hello' });
}

export function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

export interface StepRecorder {
  /** Every Task invocation, in order, by state name. */
  calls: string[];
  inputs: Record<string, WorkflowState[]>;
  handlers: Record<string, TaskHandler>;
}

/**
 * Test handlers for every Task: each records its call and adds a marker to the state,
 * unless `behaviour` replaces it for that state.
 */
export function recordingHandlers(behaviour: Record<string, (state: WorkflowState, attempt: number) => Promise<unknown>> = {}): StepRecorder {
  const calls: string[] = [];
  const inputs: Record<string, WorkflowState[]> = {};
  const handlers = Object.fromEntries(
    taskStates.map((name) => [
      name,
      async (state: WorkflowState) => {
        calls.push(name);
        const seen = inputs[name] ?? [];
        inputs[name] = seen;
        seen.push(state);
        const custom = behaviour[name];
        if (custom) return custom(state, seen.length);
        return { ...state, [`visited${name}`]: true };
      },
    ]),
  );
  return { calls, inputs, handlers };
}

export function engineWith(recorder: StepRecorder): LocalEngine {
  return createLocalEngine({ definition, handlers: recorder.handlers, retryIntervalOverrides: noRetryWaits });
}
