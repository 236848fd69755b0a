/**
 * One error type per documented error code (SPEC §4). Each knows its HTTP status; the API
 * maps them to `{error, code, ...details}` in one place (api/respond.ts), and the workflow's
 * failure path turns a step's thrown error back into one of these by its `name`.
 */

export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_source: 400,
  invalid_plugin_name: 400,
  name_mismatch: 400,
  unauthorized: 401,
  forbidden: 403,
  plugin_not_allowed: 403,
  not_found: 404,
  workspace_not_found: 404,
  org_not_found: 404,
  operation_not_found: 404,
  plugin_not_installed: 404,
  source_not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  plugin_too_large: 413,
  unpinned_source: 422,
  external_runtime: 422,
  invalid_archive: 422,
  manifest_invalid: 422,
  integrity_mismatch: 422,
  idempotency_key_reused: 422,
  internal_error: 500,
  fetch_failed: 502,
  delivery_failed: 502,
  platform_unavailable: 503,
  workspace_unreachable: 503,
  workspace_busy: 503,
  fetch_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export type ErrorDetails = Record<string, unknown>;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
    this.name = new.target.name;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  /** Transient errors are retried by the workflow (Retry on `name`), everything else is final. */
  get transient(): boolean {
    return false;
  }
}

type Ctor = new (message: string, details?: ErrorDetails, options?: { cause?: unknown }) => AppError;

function errorClass(code: ErrorCode, transient = false): Ctor {
  return class extends AppError {
    constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
      super(code, message, details, options);
    }
    override get transient(): boolean {
      return transient;
    }
  };
}

// Named classes (not anonymous) so `err.name` is stable across bundles and the workflow can match on it.
export class InvalidRequest extends errorClass('invalid_request') {}
export class InvalidSource extends errorClass('invalid_source') {}
export class InvalidPluginName extends errorClass('invalid_plugin_name') {}
export class NameMismatch extends errorClass('name_mismatch') {}
export class Unauthorized extends errorClass('unauthorized') {}
export class Forbidden extends errorClass('forbidden') {}
export class PluginNotAllowed extends errorClass('plugin_not_allowed') {}
export class NotFound extends errorClass('not_found') {}
export class WorkspaceNotFound extends errorClass('workspace_not_found') {}
export class OrgNotFound extends errorClass('org_not_found') {}
export class OperationNotFound extends errorClass('operation_not_found') {}
export class PluginNotInstalled extends errorClass('plugin_not_installed') {}
export class SourceNotFound extends errorClass('source_not_found') {}
export class MethodNotAllowed extends errorClass('method_not_allowed') {}
export class Conflict extends errorClass('conflict') {}
export class PluginTooLarge extends errorClass('plugin_too_large') {}
export class UnpinnedSource extends errorClass('unpinned_source') {}
export class ExternalRuntime extends errorClass('external_runtime') {}
export class InvalidArchive extends errorClass('invalid_archive') {}
export class ManifestInvalid extends errorClass('manifest_invalid') {}
export class IntegrityMismatch extends errorClass('integrity_mismatch') {}
export class IdempotencyKeyReused extends errorClass('idempotency_key_reused') {}
export class InternalError extends errorClass('internal_error') {}
export class FetchFailed extends errorClass('fetch_failed', true) {}
export class DeliveryFailed extends errorClass('delivery_failed') {}
export class PlatformUnavailable extends errorClass('platform_unavailable', true) {}
export class WorkspaceUnreachable extends errorClass('workspace_unreachable') {}
export class WorkspaceBusy extends errorClass('workspace_busy', true) {}
export class FetchTimeout extends errorClass('fetch_timeout') {}

/** Error names the workflow retries with backoff (SPEC §4: transient AWS/DB trouble, a busy workspace). */
export const TRANSIENT_ERROR_NAMES = ['FetchFailed', 'PlatformUnavailable', 'WorkspaceBusy'] as const;

const BY_NAME = new Map<string, ErrorCode>(
  Object.entries({
    InvalidRequest, InvalidSource, InvalidPluginName, NameMismatch, Unauthorized, Forbidden,
    PluginNotAllowed, NotFound, WorkspaceNotFound, OrgNotFound, OperationNotFound, PluginNotInstalled,
    SourceNotFound, MethodNotAllowed, PluginTooLarge, UnpinnedSource, ExternalRuntime, InvalidArchive,
    ManifestInvalid, IntegrityMismatch, InternalError, FetchFailed, DeliveryFailed, PlatformUnavailable,
    WorkspaceUnreachable, WorkspaceBusy, FetchTimeout,
  }).map(([name, cls]) => [name, new cls('').code]),
);

export interface ErrorRecord {
  code: ErrorCode;
  message: string;
  httpStatus: number;
}

/**
 * Rebuilds the documented error from what a failed Task reports to Step Functions
 * (`{Error: <name>, Cause: <json with errorMessage>}`). Anything we did not throw on purpose
 * (a Lambda crash, a timeout) becomes a generic failure whose raw text is never echoed.
 */
export function errorFromStepFailure(failure: { Error?: string; Cause?: string } | undefined, fallback: ErrorCode = 'delivery_failed'): ErrorRecord {
  const code = failure?.Error ? BY_NAME.get(failure.Error) : undefined;
  if (!code) {
    const message = failure?.Error === 'States.Timeout' ? 'the operation timed out' : 'the operation failed';
    return { code: fallback, message, httpStatus: ERROR_STATUS[fallback] };
  }
  return { code, message: causeMessage(failure?.Cause) ?? code, httpStatus: ERROR_STATUS[code] };
}

function causeMessage(cause: string | undefined): string | undefined {
  if (!cause) return undefined;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown; message?: unknown };
    const message = parsed.errorMessage ?? parsed.message;
    return typeof message === 'string' ? message : undefined;
  } catch {
    return cause;
  }
}

export function toErrorRecord(err: AppError): ErrorRecord {
  return { code: err.code, message: err.message, httpStatus: err.status };
}
