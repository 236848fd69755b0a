import { AwsApiError, epochSeconds, startAwsJsonServer, type AwsBody } from '../aws-json-server.js';
import { EngineError, type EngineEvent, type ExecutionDescription, type ExecutionStatus, type LocalEngine } from './engine.js';

/**
 * The Step Functions API (AWS JSON 1.0: `POST /`, `X-Amz-Target: AWSStepFunctions.<Operation>`)
 * over the local engine, so the real `SFNClient` pointed at it with `endpoint` (or
 * `AWS_ENDPOINT_URL_SFN`) works unchanged. Serves the operations the service uses:
 * StartExecution, DescribeExecution, GetExecutionHistory, ListExecutions, StopExecution.
 */

export interface SfnEmulator {
  url: string;
  close(): Promise<void>;
}

export interface SfnEmulatorOptions {
  engine: LocalEngine;
  /** 0 (default) picks a free port. */
  port?: number;
}

type Body = AwsBody;
type Operation = (engine: LocalEngine, body: Body) => Body;

const ERROR_NAMESPACE = 'com.amazonaws.swf.service.v2.model#';
const EXECUTION_STATUSES: ExecutionStatus[] = ['RUNNING', 'SUCCEEDED', 'FAILED', 'ABORTED', 'TIMED_OUT'];


const OPERATIONS: Record<string, Operation> = {
  StartExecution(engine, body) {
    assertStateMachine(engine, body.stateMachineArn);
    const input = parseInput(optionalString(body, 'input') ?? '{}');
    const { executionArn, startDate } = engine.startExecution(optionalString(body, 'name'), input);
    return { executionArn, startDate: epochSeconds(startDate) };
  },

  DescribeExecution(engine, body) {
    return describeBody(engine.describeExecution(requiredString(body, 'executionArn')));
  },

  GetExecutionHistory(engine, body) {
    const { events } = engine.history(requiredString(body, 'executionArn'));
    const history = toHistoryEvents(events, body.includeExecutionData !== false);
    return page(body.reverseOrder === true ? history.reverse() : history, body, 'events');
  },

  ListExecutions(engine, body) {
    assertStateMachine(engine, body.stateMachineArn);
    const status = optionalString(body, 'statusFilter');
    if (status && !EXECUTION_STATUSES.includes(status as ExecutionStatus)) throw new AwsApiError('ValidationException', `invalid statusFilter "${status}"`);
    const executions = engine.listExecutions({ status: status as ExecutionStatus | undefined }).map((e) => ({
      executionArn: e.executionArn,
      stateMachineArn: e.stateMachineArn,
      name: e.name,
      status: e.status,
      startDate: epochSeconds(e.startDate),
      ...(e.stopDate && { stopDate: epochSeconds(e.stopDate) }),
    }));
    return page(executions, body, 'executions');
  },

  StopExecution(engine, body) {
    const { stopDate } = engine.stopExecution(requiredString(body, 'executionArn'), {
      error: optionalString(body, 'error'),
      cause: optionalString(body, 'cause'),
    });
    return { stopDate: epochSeconds(stopDate) };
  },
};

export async function startSfnEmulator({ engine, port = 0 }: SfnEmulatorOptions): Promise<SfnEmulator> {
  const operations = Object.fromEntries(Object.entries(OPERATIONS).map(([name, operation]) => [name, (body: Body) => operation(engine, body)]));
  const server = await startAwsJsonServer({
    targetPrefix: 'AWSStepFunctions',
    contentType: 'application/x-amz-json-1.0',
    errorNamespace: ERROR_NAMESPACE,
    operations,
    toApiError: (err) => (err instanceof EngineError ? new AwsApiError(err.name, err.message) : undefined),
    port,
  });
  return { url: server.url, close: () => server.close() };
}

function assertStateMachine(engine: LocalEngine, arn: unknown): void {
  if (typeof arn !== 'string' || !arn) throw new AwsApiError('ValidationException', 'stateMachineArn is required');
  if (arn !== engine.stateMachineArn) throw new AwsApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
}

function requiredString(body: Body, key: string): string {
  const value = optionalString(body, key);
  if (!value) throw new AwsApiError('ValidationException', `${key} is required`);
  return value;
}

function optionalString(body: Body, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new AwsApiError('ValidationException', `${key} must be a string`);
  return value;
}

function parseInput(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AwsApiError('InvalidExecutionInput', 'Invalid State Machine Execution Input: input is not valid JSON');
  }
}

/** AWS JSON 1.0 timestamps are epoch seconds. */

function describeBody(e: ExecutionDescription): Body {
  return {
    executionArn: e.executionArn,
    stateMachineArn: e.stateMachineArn,
    name: e.name,
    status: e.status,
    startDate: epochSeconds(e.startDate),
    input: e.input,
    inputDetails: { included: true },
    ...(e.stopDate && { stopDate: epochSeconds(e.stopDate) }),
    ...(e.output !== undefined && { output: e.output, outputDetails: { included: true } }),
    ...(e.error !== undefined && { error: e.error }),
    ...(e.cause !== undefined && { cause: e.cause }),
  };
}

/** `nextToken` is the index of the next item; `maxResults` defaults to 100, at most 1000. */
function page<T>(items: T[], body: Body, key: string): Body {
  const start = Number(optionalString(body, 'nextToken') ?? 0);
  if (!Number.isInteger(start) || start < 0) throw new AwsApiError('InvalidToken', 'Invalid Token');
  const requested = typeof body.maxResults === 'number' && body.maxResults > 0 ? body.maxResults : 100;
  const end = start + Math.min(requested, 1000);
  return { [key]: items.slice(start, end), ...(end < items.length && { nextToken: String(end) }) };
}

/**
 * Engine events as Step Functions history events: `<Type>StateEntered/Exited` with the state's
 * name, and for Task states the Lambda invocation events (one `LambdaFunctionScheduled` per
 * attempt, then `LambdaFunctionSucceeded` or `LambdaFunctionFailed`/`LambdaFunctionTimedOut`).
 */
function toHistoryEvents(events: EngineEvent[], includeData: boolean): Body[] {
  const out: Body[] = [];
  const json = (value: unknown) => JSON.stringify(value ?? null);
  const push = (event: EngineEvent, type: string, details: Body) => {
    const id = out.length + 1;
    out.push({ timestamp: epochSeconds(event.timestamp), type, id, previousEventId: id - 1, ...details });
  };
  const failedTasks = new Set<string>();
  for (const event of events) {
    const name = event.state?.name ?? '';
    const isTask = event.state?.type === 'Task';
    switch (event.type) {
      case 'ExecutionStarted':
        push(event, 'ExecutionStarted', { executionStartedEventDetails: withData(includeData, 'input', json(event.input)) });
        break;
      case 'ExecutionSucceeded':
        push(event, 'ExecutionSucceeded', { executionSucceededEventDetails: withData(includeData, 'output', json(event.output)) });
        break;
      case 'ExecutionFailed':
        push(event, 'ExecutionFailed', { executionFailedEventDetails: { error: event.error, cause: event.cause } });
        break;
      case 'ExecutionAborted':
        push(event, 'ExecutionAborted', { executionAbortedEventDetails: { error: event.error, cause: event.cause } });
        break;
      case 'ExecutionTimedOut':
        push(event, 'ExecutionTimedOut', { executionTimedOutEventDetails: {} });
        break;
      case 'StateEntered':
        push(event, `${event.state?.type}StateEntered`, { stateEnteredEventDetails: { name, ...withData(includeData, 'input', json(event.input)) } });
        if (isTask) push(event, 'LambdaFunctionScheduled', { lambdaFunctionScheduledEventDetails: withData(includeData, 'input', json(event.input)) });
        failedTasks.delete(name);
        break;
      case 'StateRetried':
        if (isTask) push(event, 'LambdaFunctionScheduled', { lambdaFunctionScheduledEventDetails: withData(includeData, 'input', json(event.input)) });
        failedTasks.delete(name);
        break;
      case 'StateFailed':
        if (!isTask) break;
        failedTasks.add(name);
        if (event.error === 'States.Timeout') push(event, 'LambdaFunctionTimedOut', { lambdaFunctionTimedOutEventDetails: { error: event.error, cause: event.cause } });
        else push(event, 'LambdaFunctionFailed', { lambdaFunctionFailedEventDetails: { error: event.error, cause: event.cause } });
        break;
      case 'StateExited':
        if (isTask && !failedTasks.has(name)) push(event, 'LambdaFunctionSucceeded', { lambdaFunctionSucceededEventDetails: withData(includeData, 'output', json(event.output)) });
        push(event, `${event.state?.type}StateExited`, { stateExitedEventDetails: { name, ...withData(includeData, 'output', json(event.output)) } });
        break;
      case 'StateCaught':
        break;
    }
  }
  return out;
}

function withData(include: boolean, key: 'input' | 'output', value: string): Body {
  return include ? { [key]: value, [`${key}Details`]: { truncated: false } } : {};
}
