import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback, type Listening } from './listen.js';

/**
 * The AWS JSON protocol (1.0 / 1.1) as the emulators speak it: `POST /` with
 * `X-Amz-Target: <Prefix>.<Operation>` and a JSON body; errors as `{__type, message}` with the
 * error type also in `x-amzn-errortype`, which is how the SDK names the exception it throws.
 */
export type AwsBody = Record<string, unknown>;
export type AwsOperation = (input: AwsBody) => AwsBody;

export class AwsApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface AwsJsonServerOptions {
  /** `AWSStepFunctions`, `AmazonSSM`, ... */
  targetPrefix: string;
  contentType: 'application/x-amz-json-1.0' | 'application/x-amz-json-1.1';
  operations: Record<string, AwsOperation>;
  /** Prepended to `__type` (Step Functions answers `com.amazonaws...#Type`). */
  errorNamespace?: string;
  /** Maps the service's own errors; anything else is a 500 InternalFailure. */
  toApiError?: (err: unknown) => AwsApiError | undefined;
  /** An injected fault (MOLECULE_LOCAL_FAULTS) answered instead of running the operation. */
  fault?: (operation: string) => AwsApiError | undefined;
  port?: number;
}

export type AwsJsonServer = Listening;

const MAX_BODY_BYTES = 1024 * 1024;

export async function startAwsJsonServer(opts: AwsJsonServerOptions): Promise<AwsJsonServer> {
  const send = (res: ServerResponse, status: number, body: AwsBody, errorType?: string) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': opts.contentType,
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
      ...(errorType && { 'x-amzn-errortype': errorType }),
    });
    res.end(text);
  };

  const handle = async (req: IncomingMessage): Promise<AwsBody> => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const name = target.startsWith(`${opts.targetPrefix}.`) ? target.slice(opts.targetPrefix.length + 1) : '';
    const operation = Object.hasOwn(opts.operations, name) ? opts.operations[name] : undefined;
    const body = await readJson(req);
    if (req.method !== 'POST' || !operation) throw new AwsApiError('UnknownOperationException', `operation ${target || '(none)'} is not emulated`);
    const fault = opts.fault?.(name);
    if (fault) throw fault;
    return operation(body);
  };

  const server = createServer((req, res) => {
    handle(req).then(
      (body) => send(res, 200, body),
      (err: unknown) => {
        const error = err instanceof AwsApiError ? err : (opts.toApiError?.(err) ?? new AwsApiError('InternalFailure', 'internal error', 500));
        send(res, error.status, { __type: `${opts.errorNamespace ?? ''}${error.type}`, message: error.message }, error.type);
      },
    );
  });
  return listenOnLoopback(server, opts.port ?? 0);
}

/**
 * A request body as text, keeping at most `maxBytes` (the rest is read and dropped, so the
 * connection stays usable); a larger body is the AWS error `tooLargeType`.
 */
export async function readBoundedBody(req: IncomingMessage, maxBytes: number, tooLargeType: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= maxBytes) chunks.push(chunk);
  }
  if (size > maxBytes) throw new AwsApiError(tooLargeType, 'request body too large');
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req: IncomingMessage): Promise<AwsBody> {
  const text = await readBoundedBody(req, MAX_BODY_BYTES, 'ValidationException');
  try {
    const body: unknown = text ? JSON.parse(text) : {};
    if (body && typeof body === 'object' && !Array.isArray(body)) return body as AwsBody;
  } catch {
    // reported below
  }
  throw new AwsApiError('SerializationException', 'request body is not a JSON object');
}

/** AWS JSON timestamps are epoch seconds. */
export function epochSeconds(date: Date): number {
  return date.getTime() / 1000;
}
