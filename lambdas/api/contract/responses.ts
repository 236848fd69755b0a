import * as z from '../../shared/zod.js';
import { ERROR_DECLARATIONS, type ErrorCode } from '../../shared/errors.js';

/**
 * The bodies the API answers with (SPEC §4), as zod schemas: the OpenAPI document is generated
 * from them (api/openapi-document.ts), route handlers are type-checked against them (`reply` in
 * api/router.ts) and the service takes its types from them (shared/types.ts). All but the error
 * body are the SDK package's, for clients to share; the error body is built here, from the error
 * declarations. Loaded only by the document, never at a Lambda's start-up. A body's
 * name is its component's name in the document.
 */
export * from '@molecule/plugins-sdk/contract/responses';

const ERROR_CODES = [...new Set(Object.values(ERROR_DECLARATIONS).map((d) => d.code))] as [ErrorCode, ...ErrorCode[]];

/**
 * Every error: `{error, code, ...context}`. The context fields below are the documented ones
 * (each error code's own); 5xx answers carry none, except a failed operation's `operationId`
 * and `plugin`. The document narrows `code` to the codes each route and status can answer.
 */
export const ErrorBody = z.looseObject({
  error: z.string().check(z.describe('a message for people')),
  code: z.enum(ERROR_CODES),
  operationId: z.optional(z.uuid().check(z.describe('the operation the error is about (a failed operation, a reused Idempotency-Key)'))),
  plugin: z.optional(z.string()),
  available_schemes: z.optional(z.array(z.string()).check(z.describe('invalid_source: the schemes this service knows'))),
  resolved_name: z.optional(z.string().check(z.describe('name_mismatch: the name the source resolved to'))),
  requested_name: z.optional(z.string().check(z.describe('name_mismatch: the name in the path'))),
  installed_source: z.optional(z.string().check(z.describe('plugin_source_conflict: where the installed plugin came from'))),
  requested_source: z.optional(z.string().check(z.describe('plugin_source_conflict: the source asked for'))),
  hint: z.optional(z.string().check(z.describe('external_runtime: what to do instead'))),
  allowed: z.optional(z.array(z.string()).check(z.describe('method_not_allowed: the methods the path takes (also in `Allow`)'))),
  limit: z.optional(z.number().check(z.describe('too_many_operations: operations an org may have in flight; plugin_too_large: the limit passed'))),
  inFlight: z.optional(z.int().check(z.describe('too_many_operations: operations the org has in flight'))),
  retryAfterSeconds: z.optional(z.int().check(z.describe('too_many_operations: also in `Retry-After`'))),
  expected: z.optional(z.string().check(z.describe('integrity_mismatch: the sha256 expected'))),
  actual: z.optional(z.string().check(z.describe('integrity_mismatch: the sha256 the content has'))),
  revision: z.optional(z.int().check(z.describe('revision_not_found, revision_expired: the revision asked for'))),
  rolledBack: z.optional(z.boolean().check(z.describe('health_check_failed: true when the host is back as it was before the operation'))),
  output: z.optional(z.array(z.string()).check(z.describe("health_check_failed: the health check's last output lines"))),
  reason: z.optional(
    z
      .enum(['malformed', 'wrong_namespace', 'bad_signature', 'revoked_key', 'unknown_key', 'key_expired', 'key_not_yet_valid'])
      .check(z.describe('signature_invalid: why the signature was refused')),
  ),
  fingerprint: z.optional(z.string().check(z.describe("signature_invalid: the signing key's fingerprint (SHA256:…), when it could be read"))),
  statement: z.optional(z.string().check(z.describe('signature_invalid: the statement the signature was checked against'))),
});
