/**
 * One error type per documented error code (SPEC §4). Each code is declared once below, with its
 * HTTP status and whether the workflow retries it; the status map, the retried names and the
 * lookup by name that rebuilds a step's failure are all derived from that declaration. The API
 * maps errors to `{error, code, ...details}` in one place (api/respond.ts).
 */

/**
 * How the workflow retries a transient error (infra/workflow.ts holds the intervals): `backoff`
 * for a failed fetch or database trouble, `throttle` for AWS throttling or a brief AWS fault (a
 * burst lasts minutes), `lease` for a workspace another operation holds (waits longer).
 */
export type RetryPolicy = 'backoff' | 'throttle' | 'lease';

interface Declaration {
  code: string;
  status: number;
  retry?: RetryPolicy;
}

/**
 * Keyed by class name: the `name` a thrown error carries to Step Functions' Retry and Catch. A
 * retried name may share the code of what it means once its retries run out (AwsThrottled).
 */
export const ERROR_DECLARATIONS = {
  InvalidRequest: { code: 'invalid_request', status: 400 },
  InvalidSource: { code: 'invalid_source', status: 400 },
  InvalidPluginName: { code: 'invalid_plugin_name', status: 400 },
  NameMismatch: { code: 'name_mismatch', status: 400 },
  Unauthorized: { code: 'unauthorized', status: 401 },
  Forbidden: { code: 'forbidden', status: 403 },
  PluginNotAllowed: { code: 'plugin_not_allowed', status: 403 },
  /** The org requires signed plugins and this one carries no signature (SPEC §11). */
  SignatureRequired: { code: 'signature_required', status: 403 },
  NotFound: { code: 'not_found', status: 404 },
  WorkspaceNotFound: { code: 'workspace_not_found', status: 404 },
  OrgNotFound: { code: 'org_not_found', status: 404 },
  OperationNotFound: { code: 'operation_not_found', status: 404 },
  PluginNotInstalled: { code: 'plugin_not_installed', status: 404 },
  RevisionNotFound: { code: 'revision_not_found', status: 404 },
  RolloutNotFound: { code: 'rollout_not_found', status: 404 },
  SourceNotFound: { code: 'source_not_found', status: 404 },
  MethodNotAllowed: { code: 'method_not_allowed', status: 405 },
  Conflict: { code: 'conflict', status: 409 },
  PluginSourceConflict: { code: 'plugin_source_conflict', status: 409 },
  NoPreviousRevision: { code: 'no_previous_revision', status: 409 },
  /** A rollout that already ended takes no cancel, no new rate controls and (SUCCEEDED) no resume. */
  RolloutFinished: { code: 'rollout_finished', status: 409 },
  RolloutRunning: { code: 'rollout_running', status: 409 },
  /** A rollback's revision: its tarball is no longer kept and its source no longer gives those bytes. */
  RevisionExpired: { code: 'revision_expired', status: 410 },
  /** A conditional write (`If-Match`) over a document that changed since the caller read it. */
  PreconditionFailed: { code: 'precondition_failed', status: 412 },
  PluginTooLarge: { code: 'plugin_too_large', status: 413 },
  UnpinnedSource: { code: 'unpinned_source', status: 422 },
  ExternalRuntime: { code: 'external_runtime', status: 422 },
  InvalidArchive: { code: 'invalid_archive', status: 422 },
  ManifestInvalid: { code: 'manifest_invalid', status: 422 },
  IntegrityMismatch: { code: 'integrity_mismatch', status: 422 },
  IdempotencyKeyReused: { code: 'idempotency_key_reused', status: 422 },
  /** A rollout whose targets match no workspace. */
  NoTargets: { code: 'no_targets', status: 422 },
  /** A plugin signature that is malformed, does not verify, or whose key the org does not trust (SPEC §11: `reason`). */
  SignatureInvalid: { code: 'signature_invalid', status: 422 },
  TooManyOperations: { code: 'too_many_operations', status: 429 },
  /** Not `InternalError`: S3 and EC2 name their own 500 that, and a step's failure is matched by name. */
  UnexpectedFailure: { code: 'internal_error', status: 500 },
  FetchFailed: { code: 'fetch_failed', status: 502, retry: 'backoff' },
  DeliveryFailed: { code: 'delivery_failed', status: 502 },
  /** The agent did not pass its health check after the change; the host put back what was there (SPEC §9). */
  HealthCheckFailed: { code: 'health_check_failed', status: 502 },
  PlatformUnavailable: { code: 'platform_unavailable', status: 503, retry: 'backoff' },
  WorkspaceUnreachable: { code: 'workspace_unreachable', status: 503 },
  /** AWS throttled (or briefly failed) a call that reaches the workspace; past its retries the workspace is unreachable. */
  AwsThrottled: { code: 'workspace_unreachable', status: 503, retry: 'throttle' },
  WorkspaceBusy: { code: 'workspace_busy', status: 503, retry: 'lease' },
  FetchTimeout: { code: 'fetch_timeout', status: 504 },
} as const satisfies Record<string, Declaration>;

type Declared = typeof ERROR_DECLARATIONS;
export type ErrorName = keyof Declared;
export type ErrorCode = Declared[ErrorName]['code'];
type RetriedName<P extends RetryPolicy> = { [N in ErrorName]: Declared[N] extends { retry: P } ? N : never }[ErrorName];

const DECLARED = Object.entries(ERROR_DECLARATIONS) as Array<[ErrorName, Declaration & Declared[ErrorName]]>;

export const ERROR_STATUS = Object.fromEntries(DECLARED.map(([, d]) => [d.code, d.status])) as {
  readonly [N in ErrorName as Declared[N]['code']]: Declared[N]['status'];
};

/** The error names the workflow retries under one policy. */
export function errorNamesRetried<P extends RetryPolicy>(policy: P): Array<RetriedName<P>> {
  return DECLARED.filter(([, d]) => d.retry === policy).map(([name]) => name as RetriedName<P>);
}

/** Error names the workflow retries with backoff (SPEC §4: transient AWS/DB trouble, a busy workspace). */
export const TRANSIENT_ERROR_NAMES: ReadonlyArray<RetriedName<RetryPolicy>> = [
  ...errorNamesRetried('backoff'),
  ...errorNamesRetried('throttle'),
  ...errorNamesRetried('lease'),
];

/**
 * What Step Functions itself reports when invoking a step's Lambda fails in a way that passes
 * (throttling, a Lambda service error): names a Catch can see that are no error of ours.
 */
export const LAMBDA_INVOKE_TRANSIENT_ERRORS = ['Lambda.TooManyRequestsException', 'Lambda.ServiceException'] as const;

const CODE_BY_NAME = new Map<string, ErrorCode>(DECLARED.map(([name, d]) => [name, d.code]));

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

function errorClass(name: ErrorName): Ctor {
  const { code, retry }: Declaration & { code: ErrorCode } = ERROR_DECLARATIONS[name];
  return class extends AppError {
    constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
      super(code, message, details, options);
    }
    override get transient(): boolean {
      return retry !== undefined;
    }
  };
}

// Named classes (not anonymous) so `err.name` is stable across bundles and the workflow can match
// on it; each is named after its declaration (test/unit/shared/errors.test.ts holds them to it).
export class InvalidRequest extends errorClass('InvalidRequest') {}
export class InvalidSource extends errorClass('InvalidSource') {}
export class InvalidPluginName extends errorClass('InvalidPluginName') {}
export class NameMismatch extends errorClass('NameMismatch') {}
export class Unauthorized extends errorClass('Unauthorized') {}
export class Forbidden extends errorClass('Forbidden') {}
export class PluginNotAllowed extends errorClass('PluginNotAllowed') {}
export class SignatureRequired extends errorClass('SignatureRequired') {}
export class NotFound extends errorClass('NotFound') {}
export class WorkspaceNotFound extends errorClass('WorkspaceNotFound') {}
export class OrgNotFound extends errorClass('OrgNotFound') {}
export class OperationNotFound extends errorClass('OperationNotFound') {}
export class PluginNotInstalled extends errorClass('PluginNotInstalled') {}
export class RevisionNotFound extends errorClass('RevisionNotFound') {}
export class RolloutNotFound extends errorClass('RolloutNotFound') {}
export class SourceNotFound extends errorClass('SourceNotFound') {}
export class MethodNotAllowed extends errorClass('MethodNotAllowed') {}
export class Conflict extends errorClass('Conflict') {}
export class PluginSourceConflict extends errorClass('PluginSourceConflict') {}
export class NoPreviousRevision extends errorClass('NoPreviousRevision') {}
export class RolloutFinished extends errorClass('RolloutFinished') {}
export class RolloutRunning extends errorClass('RolloutRunning') {}
export class RevisionExpired extends errorClass('RevisionExpired') {}
export class PreconditionFailed extends errorClass('PreconditionFailed') {}
export class PluginTooLarge extends errorClass('PluginTooLarge') {}
export class UnpinnedSource extends errorClass('UnpinnedSource') {}
export class ExternalRuntime extends errorClass('ExternalRuntime') {}
export class InvalidArchive extends errorClass('InvalidArchive') {}
export class ManifestInvalid extends errorClass('ManifestInvalid') {}
export class IntegrityMismatch extends errorClass('IntegrityMismatch') {}
export class IdempotencyKeyReused extends errorClass('IdempotencyKeyReused') {}
export class NoTargets extends errorClass('NoTargets') {}
export class SignatureInvalid extends errorClass('SignatureInvalid') {}
export class TooManyOperations extends errorClass('TooManyOperations') {}
export class UnexpectedFailure extends errorClass('UnexpectedFailure') {}
export class FetchFailed extends errorClass('FetchFailed') {}
export class DeliveryFailed extends errorClass('DeliveryFailed') {}
export class HealthCheckFailed extends errorClass('HealthCheckFailed') {}
export class PlatformUnavailable extends errorClass('PlatformUnavailable') {}
export class WorkspaceUnreachable extends errorClass('WorkspaceUnreachable') {}
export class AwsThrottled extends errorClass('AwsThrottled') {}
export class WorkspaceBusy extends errorClass('WorkspaceBusy') {}
export class FetchTimeout extends errorClass('FetchTimeout') {}

export interface ErrorRecord {
  code: ErrorCode;
  message: string;
  httpStatus: number;
  /** health_check_failed: whether the host is back as it was before the operation (SPEC §9). */
  rolledBack?: boolean;
  /** health_check_failed: the check's last output lines (bounded). */
  output?: string[];
  /** signature_invalid: why (SPEC §11: `malformed`, `wrong_namespace`, `bad_signature`, `revoked_key`, `unknown_key`, `key_expired`, `key_not_yet_valid`). */
  reason?: string;
  /** signature_invalid: the signing key's fingerprint, when it could be read. */
  fingerprint?: string;
  /** signature_invalid: the statement the signature was checked against. */
  statement?: string;
}

/**
 * Rebuilds the documented error from what a failed Task reports to Step Functions
 * (`{Error: <name>, Cause: <json with errorMessage>}`: the Lambda runtime's errorType and
 * errorMessage, nothing else). The name is all that tells ours from an AWS SDK error (S3 has an
 * `InvalidRequest` and a `NotFound` too), so a step lets no error out but one of ours
 * (workflow/steps/step.ts). Anything else (a Lambda crash, a timeout) becomes a generic failure
 * whose raw text is never echoed.
 */
export function errorFromStepFailure(failure: { Error?: string; Cause?: string } | undefined, fallback: ErrorCode = 'delivery_failed'): ErrorRecord {
  const code = failure?.Error ? CODE_BY_NAME.get(failure.Error) : undefined;
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
