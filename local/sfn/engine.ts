import './promise-with-resolvers.js';
import { randomUUID } from 'node:crypto';
import { StateMachine, type RunOptions, type StateMachineDefinition } from 'aws-local-stepfunctions';

/**
 * Runs the workflow definition synthesized from the CDK app in-process, with every Task state
 * bound to a local handler (the real step handler locally, a stub in tests), and keeps
 * executions the way Step Functions reports them: status, output, error/cause, event history.
 *
 * Fidelity notes (what a handler and the definition see, compared with AWS):
 * - A thrown error's `name` becomes the ASL `Error`, so Retry/Catch on `WorkspaceBusy` etc. match.
 * - `Cause` is the JSON the Node.js Lambda runtime reports,
 *   `{"errorType": name, "errorMessage": message, "trace": [...]}`. The library alone would put
 *   only `err.message` there; the handler wrapper below makes it match AWS.
 * - Input and output cross a JSON round trip, as through Lambda (`undefined` output is `null`), and
 *   the 256 KiB payload quota is enforced: a larger step output fails the execution with
 *   `States.DataLimitExceeded`, which no Catch handles (as on AWS).
 * - Retry waits are real sleeps computed from IntervalSeconds/BackoffRate/MaxDelaySeconds, with
 *   JitterStrategy FULL honoured; `retryIntervalOverrides` replaces them (tests, and the local
 *   stack's `shortRetryIntervals`).
 * - Task TimeoutSeconds is enforced (`States.Timeout`), but, as with Lambda, the handler is not
 *   cancelled: it runs to completion in the background.
 */

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

/** A Task's local implementation. `never` lets handlers declare their own input type. */
export type TaskHandler = (input: never) => Promise<unknown>;

export type EngineEventType =
  | 'ExecutionStarted'
  | 'ExecutionSucceeded'
  | 'ExecutionFailed'
  | 'ExecutionAborted'
  | 'ExecutionTimedOut'
  | 'StateEntered'
  | 'StateExited'
  | 'StateFailed'
  | 'StateRetried'
  | 'StateCaught';

export interface EngineEvent {
  /** 1-based, in order, per execution. */
  id: number;
  type: EngineEventType;
  timestamp: Date;
  state?: { name: string; type: string };
  input?: unknown;
  output?: unknown;
  error?: string;
  cause?: string;
  /** StateRetried: which retry this is (1 = first retry). */
  retryAttempt?: number;
}

export interface ExecutionDescription {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  /** JSON text, as Step Functions returns it. */
  input: string;
  output?: string;
  error?: string;
  cause?: string;
  startDate: Date;
  stopDate?: Date;
}

export interface ExecutionHistory {
  events: EngineEvent[];
  /** State transitions as Step Functions bills them: every state entered, plus every retry. */
  transitionCount: number;
}

export interface LocalEngineOptions {
  /** The ASL document, e.g. `synthesizeDefinition().definition`. */
  definition: object;
  /** One handler per Task state, by state name. Every Task state must have one. */
  handlers: Record<string, TaskHandler>;
  onEvent?: (event: EngineEvent & { executionArn: string }) => void;
  stateMachineArn?: string;
  /** Milliseconds to wait before each retry, by state name, instead of the definition's backoff. */
  retryIntervalOverrides?: Record<string, number | number[]>;
  /** Finished executions are forgotten beyond this many, or after `retentionMs`. */
  maxFinishedExecutions?: number;
  retentionMs?: number;
}

export interface LocalEngine {
  readonly stateMachineArn: string;
  startExecution(name: string | undefined, input: unknown): { executionArn: string; startDate: Date };
  describeExecution(executionArn: string): ExecutionDescription;
  history(executionArn: string): ExecutionHistory;
  /** Newest first. */
  listExecutions(filter?: { status?: ExecutionStatus }): ExecutionDescription[];
  stopExecution(executionArn: string, reason?: { error?: string; cause?: string }): { stopDate: Date };
  /** Resolves once the execution has finished and its history is complete. */
  waitForExecution(executionArn: string): Promise<ExecutionDescription>;
  /** Aborts every running execution; no new ones start. */
  stop(): void;
}

/** The Step Functions API errors the engine can raise; `name` is the AWS exception name. */
export class EngineError extends Error {
  constructor(
    name: 'ExecutionAlreadyExists' | 'ExecutionDoesNotExist' | 'InvalidName' | 'InvalidArn' | 'InvalidExecutionInput' | 'EngineStopped',
    message: string,
  ) {
    super(message);
    this.name = name;
  }
}

export const DEFAULT_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:molecule-plugin-delivery';
/** Step Functions' quota for an execution input and for a state's output. */
const MAX_PAYLOAD_BYTES = 256 * 1024;
const DEFAULT_MAX_FINISHED = 10_000;
const DEFAULT_RETENTION_MS = 60 * 60 * 1000;
// AWS: 1-80 characters, no whitespace, brackets, wildcards, punctuation listed below or control characters.
const EXECUTION_NAME_RE = /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]{1,80}$/;

type RawEvent = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

interface Execution {
  arn: string;
  name: string;
  input: string;
  canonicalInput: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  output?: string;
  error?: string;
  cause?: string;
  events: EngineEvent[];
  abort: () => void;
  finished: Promise<void>;
}

export function createLocalEngine(options: LocalEngineOptions): LocalEngine {
  const definition = options.definition as StateMachineDefinition;
  assertEveryTaskHasHandler(definition, options.handlers);
  const machine = new StateMachine(definition);
  const stateMachineArn = options.stateMachineArn ?? DEFAULT_STATE_MACHINE_ARN;
  const executionArnPrefix = executionPrefixFor(stateMachineArn);
  const maxFinished = options.maxFinishedExecutions ?? DEFAULT_MAX_FINISHED;
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const executions = new Map<string, Execution>();
  let stopped = false;

  function get(executionArn: string): Execution {
    const execution = executions.get(executionArn);
    if (!execution) throw new EngineError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return execution;
  }

  /** Finished executions in the order they finished, so forgetting the oldest never scans them all. */
  const finishedInOrder = new Map<string, Date>();

  function forgetOldExecutions(now: number): void {
    for (const [arn, stopDate] of finishedInOrder) {
      if (finishedInOrder.size <= maxFinished && now - stopDate.getTime() <= retentionMs) break;
      finishedInOrder.delete(arn);
      executions.delete(arn);
    }
  }

  function finish(execution: Execution, status: ExecutionStatus, result: { output?: string; error?: string; cause?: string }, at: Date): void {
    if (execution.status !== 'RUNNING') return;
    Object.assign(execution, { status, stopDate: at }, result);
    finishedInOrder.set(execution.arn, at);
  }

  function record(execution: Execution, raw: RawEvent): void {
    const event = toEngineEvent(raw, execution.events.length + 1);
    if (event.type === 'ExecutionAborted') Object.assign(event, { error: execution.error, cause: execution.cause });
    execution.events.push(event);
    if (event.type === 'ExecutionSucceeded') finish(execution, 'SUCCEEDED', { output: JSON.stringify(event.output ?? null) }, event.timestamp);
    if (event.type === 'ExecutionFailed') finish(execution, 'FAILED', { error: event.error, cause: event.cause }, event.timestamp);
    if (event.type === 'ExecutionTimedOut') finish(execution, 'TIMED_OUT', {}, event.timestamp);
    try {
      options.onEvent?.({ ...event, executionArn: execution.arn });
    } catch (err) {
      // A broken listener must not break the execution it is watching.
      process.emitWarning(`local Step Functions onEvent listener failed: ${(err as Error).message}`);
    }
  }

  function taskHandlersFor(execution: Execution): Record<string, (input: unknown) => Promise<unknown>> {
    return Object.fromEntries(
      Object.entries(options.handlers).map(([stateName, handler]) => [
        stateName,
        async (input: unknown) => {
          // The library re-enters a state once after an abort interrupts its retry wait: do nothing then.
          if (execution.status !== 'RUNNING') throw new Error(`execution ${execution.name} is no longer running`);
          try {
            const output = JSON.stringify((await handler(JSON.parse(JSON.stringify(input)) as never)) ?? null);
            if (Buffer.byteLength(output) > MAX_PAYLOAD_BYTES) throw new DataLimitExceeded(stateName);
            return JSON.parse(output) as unknown;
          } catch (err) {
            throw err instanceof DataLimitExceeded ? err : new TaskFailure(err);
          }
        },
      ]),
    );
  }

  async function follow(execution: Execution, eventLogs: AsyncGenerator<RawEvent>, done: () => void): Promise<void> {
    for await (const raw of eventLogs) record(execution, raw);
    done();
  }

  return {
    stateMachineArn,

    startExecution(name = randomUUID(), input = {}) {
      if (stopped) throw new EngineError('EngineStopped', 'the local Step Functions engine has been stopped');
      if (!EXECUTION_NAME_RE.test(name)) throw new EngineError('InvalidName', `Invalid Name: '${name}'`);
      const executionArn = `${executionArnPrefix}:${name}`;
      const inputJson = JSON.stringify(input);
      if (Buffer.byteLength(inputJson) > MAX_PAYLOAD_BYTES) throw new EngineError('InvalidExecutionInput', 'execution input exceeds 256 KiB');
      const canonicalInput = canonicalJson(input);
      const existing = executions.get(executionArn);
      if (existing) {
        // AWS idempotency: same name and input while still running returns the same execution.
        if (existing.status === 'RUNNING' && existing.canonicalInput === canonicalInput) {
          return { executionArn, startDate: existing.startDate };
        }
        throw new EngineError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
      }
      const startDate = new Date();
      forgetOldExecutions(startDate.getTime());

      let done!: () => void;
      const execution: Execution = {
        arn: executionArn,
        name,
        input: inputJson,
        canonicalInput,
        status: 'RUNNING',
        startDate,
        events: [],
        abort: () => undefined,
        finished: new Promise<void>((resolve) => (done = resolve)),
      };
      executions.set(executionArn, execution);

      const runOptions: RunOptions = {
        overrides: {
          taskResourceLocalHandlers: taskHandlersFor(execution) as NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers'],
          retryIntervalOverrides: options.retryIntervalOverrides,
        },
        noThrowOnAbort: true,
        context: {
          Execution: { Id: executionArn, Name: name, StartTime: startDate.toISOString() },
          StateMachine: { Id: stateMachineArn, Name: stateMachineArn.split(':').at(-1) },
        },
      };
      const run = machine.run(JSON.parse(execution.input), runOptions);
      execution.abort = run.abort;
      // The outcome (output, or Error and Cause) is read from the event log, which carries both.
      run.result.catch(() => undefined);
      void follow(execution, run.eventLogs, done);
      return { executionArn, startDate };
    },

    describeExecution(executionArn) {
      return describe(get(executionArn), stateMachineArn);
    },

    history(executionArn) {
      const { events } = get(executionArn);
      const transitionCount = events.filter((e) => e.type === 'StateEntered' || e.type === 'StateRetried').length;
      return { events: [...events], transitionCount };
    },

    listExecutions(filter = {}) {
      return [...executions.values()]
        .filter((e) => !filter.status || e.status === filter.status)
        .reverse()
        .map((e) => describe(e, stateMachineArn));
    },

    stopExecution(executionArn, reason = {}) {
      const execution = get(executionArn);
      if (execution.status === 'RUNNING') {
        finish(execution, 'ABORTED', { error: reason.error, cause: reason.cause }, new Date());
        execution.abort();
      }
      return { stopDate: execution.stopDate ?? new Date() };
    },

    async waitForExecution(executionArn) {
      const execution = get(executionArn);
      await execution.finished;
      return describe(execution, stateMachineArn);
    },

    stop() {
      stopped = true;
      for (const execution of executions.values()) {
        if (execution.status !== 'RUNNING') continue;
        finish(execution, 'ABORTED', { error: 'EngineStopped', cause: 'the local Step Functions engine stopped' }, new Date());
        execution.abort();
      }
    },
  };
}

/**
 * Retry waits for the local stack: every retrier of every Task waits `ms` instead of its backoff,
 * except those that retry one of `keep` (e.g. a busy workspace, which waits for real work to
 * end). Under injected faults the workflow then retries as often as on AWS, in moments.
 */
export function shortRetryIntervals(definition: object, ms: number, keep: readonly string[] = []): Record<string, number[]> {
  const states = (definition as StateMachineDefinition).States ?? {};
  return Object.fromEntries(
    Object.entries(states).flatMap(([name, state]) => {
      const retry = 'Retry' in state ? state.Retry : undefined;
      // -1: the library's "no override" for that retrier.
      return retry ? [[name, retry.map((r) => (r.ErrorEquals.some((error) => keep.includes(error)) ? -1 : ms))]] : [];
    }),
  );
}

/** What a failed Lambda invocation reports to Step Functions, rebuilt from the thrown error. */
class TaskFailure extends Error {
  constructor(err: unknown) {
    const error = err instanceof Error ? err : new Error(String(err));
    super(
      JSON.stringify({
        errorType: error.name,
        errorMessage: error.message,
        trace: (error.stack ?? '').split('\n'),
      }),
    );
    this.name = error.name;
  }
}

/** The library reads `isRetryable`/`isCatchable` from thrown errors: this one is terminal, as on AWS. */
class DataLimitExceeded extends Error {
  readonly isRetryable = false;
  readonly isCatchable = false;

  constructor(stateName: string) {
    super(`the output of state "${stateName}" exceeds the 256 KiB payload quota`);
    this.name = 'States.DataLimitExceeded';
  }
}

function assertEveryTaskHasHandler(definition: StateMachineDefinition, handlers: Record<string, TaskHandler>): void {
  const taskStates = Object.entries(definition.States ?? {})
    .filter(([, state]) => state.Type === 'Task')
    .map(([name]) => name);
  const missing = taskStates.filter((name) => typeof handlers[name] !== 'function');
  if (missing.length > 0) throw new Error(`no local handler for Task state(s): ${missing.join(', ')}`);
  const unknown = Object.keys(handlers).filter((name) => !taskStates.includes(name));
  if (unknown.length > 0) throw new Error(`local handler(s) for unknown Task state(s): ${unknown.join(', ')}`);
}

function executionPrefixFor(stateMachineArn: string): string {
  const match = /^arn:(aws[a-z-]*):states:([a-z0-9-]+):(\d{12}):stateMachine:([A-Za-z0-9_-]{1,80})$/.exec(stateMachineArn);
  if (!match) throw new EngineError('InvalidArn', `Invalid Arn: '${stateMachineArn}'`);
  const [, partition, region, account, machineName] = match;
  return `arn:${partition}:states:${region}:${account}:execution:${machineName}`;
}

function describe(execution: Execution, stateMachineArn: string): ExecutionDescription {
  const { arn, name, status, input, output, error, cause, startDate, stopDate } = execution;
  return {
    executionArn: arn,
    stateMachineArn,
    name,
    status,
    input,
    startDate,
    ...(output !== undefined && { output }),
    ...(error !== undefined && { error }),
    ...(cause !== undefined && { cause }),
    ...(stopDate && { stopDate }),
  };
}

function toEngineEvent(raw: RawEvent, id: number): EngineEvent {
  const event: EngineEvent = {
    id,
    type: raw.type === 'ExecutionTimeout' ? 'ExecutionTimedOut' : (raw.type as EngineEventType),
    timestamp: new Date(raw.timestamp),
  };
  if ('state' in raw) {
    event.state = { name: raw.state.name, type: raw.state.type };
    event.input = raw.state.input;
    if (raw.state.output !== undefined) event.output = raw.state.output;
  }
  if ('input' in raw) event.input = raw.input;
  if ('output' in raw) event.output = raw.output;
  if ('Error' in raw) {
    event.error = raw.Error;
    event.cause = typeof raw.Cause === 'string' ? raw.Cause : JSON.stringify(raw.Cause ?? null);
  }
  if ('retry' in raw) event.retryAttempt = raw.retry.attempt;
  return event;
}

/** JSON with object keys sorted, so equal documents compare equal whatever their key order. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
