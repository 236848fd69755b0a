import { AwsApiError, epochSeconds, startAwsJsonServer, type AwsBody } from '../aws-json-server.js';
import { EngineError, type ExecutionDescription, type LocalEngine } from './engine.js';

/**
 * The Step Functions API (AWS JSON 1.0: `POST /`, `X-Amz-Target: AWSStepFunctions.<Operation>`)
 * over the local engine, so the real `SFNClient` pointed at it with `endpoint` (or
 * `AWS_ENDPOINT_URL_SFN`) works unchanged. Serves only what the service calls: StartExecution
 * (the API) and DescribeExecution (whether an execution still runs). Tests and the bench read the
 * engine itself for anything else (its event log, transition count, list, stop).
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
