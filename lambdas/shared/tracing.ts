import type { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * X-Ray tracing with Powertools Tracer: every AWS SDK client is captured (aws.ts), each workflow
 * step runs in its own subsegment annotated with the operation id, and the API hands its trace
 * header to StartExecution, so API → state machine → steps is one trace.
 *
 * Only inside a Lambda with tracing not turned off (`POWERTOOLS_TRACE_ENABLED=false`): the local
 * stack and tests have no X-Ray daemon, and there nothing here loads the X-Ray SDK or does anything.
 */
export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.AWS_LAMBDA_FUNCTION_NAME && env.AWS_EXECUTION_ENV) && (env.POWERTOOLS_TRACE_ENABLED ?? '').toLowerCase() !== 'false';
}

let tracer: Promise<Tracer | undefined> | undefined;

/** The process's Tracer, loaded on first use; undefined where tracing is off. */
export function getTracer(): Promise<Tracer | undefined> {
  tracer ??= tracingEnabled()
    ? import('@aws-lambda-powertools/tracer').then(({ Tracer }) => new Tracer({ serviceName: 'molecule-plugin-delivery' })).catch(() => undefined)
    : Promise.resolve(undefined);
  return tracer;
}

/** The client, captured by the tracer when tracing is on (each call a subsegment). */
export async function captureClient<C>(client: C): Promise<C> {
  const t = await getTracer();
  return t ? t.captureAWSv3Client(client) : client;
}

/**
 * Runs `work` in a subsegment named `name`, annotated with `annotations` (operationId, step, ...);
 * just runs it where tracing is off. An error is recorded on the subsegment and re-thrown.
 */
export async function traced<T>(name: string, annotations: Record<string, string | number | boolean>, work: () => Promise<T>): Promise<T> {
  const t = await getTracer();
  const parent = t?.getSegment();
  if (!t || !parent) return work();
  const sub = parent.addNewSubsegment(`## ${name}`);
  t.setSegment(sub);
  try {
    for (const [key, value] of Object.entries(annotations)) t.putAnnotation(key, value);
    return await work();
  } catch (err) {
    sub.addError(err as Error);
    throw err;
  } finally {
    sub.close();
    t.setSegment(parent);
  }
}

/** Step Functions' `traceHeader` limit. */
const TRACE_HEADER_MAX = 256;

/**
 * The X-Ray trace header of the current invocation (`Root=1-…;Parent=…;Sampled=1`, what Lambda
 * puts in `_X_AMZN_TRACE_ID`), for StartExecution; undefined when there is none.
 */
export function currentTraceHeader(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const header = env._X_AMZN_TRACE_ID?.trim();
  if (!header || header.length > TRACE_HEADER_MAX || !/^Root=/.test(header)) return undefined;
  return header;
}
