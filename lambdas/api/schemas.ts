import * as z from '../shared/zod.js';
import { parseIsoDuration } from '../shared/iso-duration.js';
import {
  INSTANCE_ID_RE,
  OPERATIONS_PAGE_MAX,
  OperationKind,
  OperationStatus,
  PLUGIN_NAME_RE,
  PluginName,
  RepairMode,
  Transport,
  WORKSPACE_ID_RE,
} from '../shared/types.js';

/** Request bodies and query strings, parsed once at the edge. */

export const InstallBody = z.object({
  source: z
    .string({ error: (issue) => (issue.input === undefined ? 'missing source' : 'source must be a string') })
    .check(z.trim(), z.minLength(1, 'missing source')),
  sha256: z.optional(
    z.pipe(
      z.string().check(z.regex(/^[0-9a-fA-F]{64}$/, 'sha256 must be 64 hex characters')),
      z.transform((v) => v.toLowerCase()),
    ),
  ),
  restart: z._default(z.boolean(), true),
  /** SPEC §4 origins: whether this install may replace an installed plugin of another origin. */
  replace: z._default(z.boolean(), false),
  /** SPEC §9: a plan of what the install would change; nothing is delivered. */
  dryRun: z._default(z.boolean(), false),
  /** SPEC §9: `false` skips the health gate after the restart. */
  healthCheck: z._default(z.boolean(), true),
  /** SPEC §11: the plugin's SSH signature (armored), judged by Stage instead of a root plugin.sig. */
  signature: z.optional(z.string('signature must be a string').check(z.minLength(1, 'signature must not be empty'))),
  uninstallAfter: z.optional(
    z.pipe(
      z.string(),
      z.transform((v: string, ctx) => {
        const duration = parseIsoDuration(v);
        if (duration) return duration;
        ctx.issues.push({ code: 'custom', input: v, message: 'uninstallAfter must be an ISO-8601 duration such as P7D, PT12H or P1M' });
        return z.NEVER;
      }),
    ),
  ),
});
export type InstallBody = z.infer<typeof InstallBody>;

/** `10` or `"10%"` (of the target count, rounded down), as SSM Run Command's rate controls take them. */
const RateValue = (least: number, what: string) =>
  z.union([
    z.int(`${what} must be a whole number or a percentage such as "10%"`).check(z.gte(least, `${what} must be at least ${least}`)),
    z.templateLiteral([z.number().check(z.gte(0), z.lte(100)), '%']),
  ]);

/** `POST /orgs/{orgId}/rollouts` (SPEC §10). */
export const RolloutBody = z.strictObject({
  source: InstallBody.shape.source,
  sha256: InstallBody.shape.sha256,
  targets: z.union(
    [
      z.strictObject({ workspaceIds: z.array(z.string().check(z.regex(WORKSPACE_ID_RE, 'must be workspace ids'))).check(z.minLength(1), z.maxLength(10_000)) }),
      z.strictObject({ runtime: z.string().check(z.regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'runtime must be a lower-case identifier')) }),
      z.strictObject({ all: z.literal(true) }),
    ],
    { error: 'targets must be {"workspaceIds": [...]}, {"runtime": "<runtime>"} or {"all": true}' },
  ),
  maxConcurrency: z._default(RateValue(1, 'maxConcurrency'), '10%'),
  maxErrors: z._default(RateValue(0, 'maxErrors'), 0),
  canary: z._default(z.int('canary must be a whole number').check(z.gte(0)), 1),
  failureMode: z._default(z.enum(['tolerant', 'strict']), 'tolerant'),
  restart: z._default(z.boolean(), true),
  replace: z._default(z.boolean(), false),
  healthCheck: z._default(z.boolean(), true),
  signature: z.optional(z.string().check(z.minLength(1), z.maxLength(16_384))),
  dryRun: z._default(z.boolean(), false),
});
export type RolloutBody = z.infer<typeof RolloutBody>;

/** `PATCH /orgs/{orgId}/rollouts/{id}`: new rate controls from the next start on. */
export const RolloutPatchBody = z
  .strictObject({ maxConcurrency: z.optional(RateValue(1, 'maxConcurrency')), maxErrors: z.optional(RateValue(0, 'maxErrors')) })
  .check(z.refine((b) => b.maxConcurrency !== undefined || b.maxErrors !== undefined, 'give maxConcurrency or maxErrors'));

/** `POST /orgs/{orgId}/rollouts/{id}/resume`: optionally a new error budget. */
export const RolloutResumeBody = z.strictObject({ maxErrors: z.optional(RateValue(0, 'maxErrors')) });

export const RolloutsQuery = z.object({
  limit: z._default(z.coerce.number({ error: 'must be a whole number from 1 to 100' }).check(z.int(), z.gte(1), z.lte(100)), 20),
});

export const RolloutId = z.uuid();

/** `POST /workspaces/{id}/plugins/{name}/rollback`: which revision; default the newest older than the active one. */
export const RollbackBody = z.object({
  revision: z.optional(z.int('revision must be a whole number').check(z.gte(1, 'revision must be 1 or more'))),
});
export type RollbackBody = z.infer<typeof RollbackBody>;

/** `POST /workspaces/{id}/plugins/repair` (SPEC §12): what to mend, and optionally only these plugins. */
export const RepairBody = z.object({
  mode: RepairMode,
  plugins: z.optional(z.array(PluginName).check(z.minLength(1, 'plugins must name at least one plugin'), z.maxLength(1000))),
});
export type RepairBody = z.infer<typeof RepairBody>;

export const WorkspaceBody = z.object({
  orgId: z.string().check(z.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'orgId must be 1-128 letters, digits, ".", "_" or "-"')),
  runtime: z.string().check(z.regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'runtime must be a lower-case identifier')),
  instanceId: z.optional(z.nullable(z.string().check(z.maxLength(64)))),
  transport: z._default(Transport, 'auto'),
  status: z._default(z.string().check(z.regex(/^[a-z_]{1,32}$/)), 'online'),
});

/** A bare name allows the plugin from anywhere; `{name, source}` pins it to an origin or an owner prefix. */
export const AllowlistBody = z.object({
  plugins: z
    .array(z.union([z.string(), z.strictObject({ name: z.string(), source: z.optional(z.string().check(z.trim(), z.minLength(1))) })]))
    .check(z.maxLength(1000)),
  enabled_by: z.string().check(z.trim(), z.minLength(1), z.maxLength(256)),
});

/**
 * `PUT /orgs/{orgId}/plugins/trust` (SPEC §11): the whole document. Its shape is checked here; what
 * it says (ed25519 keys, one entry per principal, windows, fingerprints) by the use case, which
 * names every problem. A GET's answer can be put back as it is: its `fingerprint`s are ignored.
 */
export const TrustBody = z.object({
  requireSignature: z.boolean(),
  signers: z
    .array(
      z.object({
        principal: z.string().check(z.maxLength(256)),
        publicKey: z.string().check(z.maxLength(1024)),
        validAfter: z.optional(z.string().check(z.maxLength(64))),
        validBefore: z.optional(z.string().check(z.maxLength(64))),
      }),
    )
    .check(z.maxLength(1000)),
  revokedKeys: z._default(z.array(z.string().check(z.maxLength(64))).check(z.maxLength(1000)), []),
});
export type TrustBody = z.infer<typeof TrustBody>;

export { WORKSPACE_ID_RE };

/** `?status=` with no value is no filter, as in most APIs: the schema sees it unset. */
const blankAsUnset = <T extends z.ZodMiniType>(schema: T) =>
  z.pipe(
    z.transform((v: unknown) => (v === '' ? undefined : v)),
    schema,
  );
const matching = (re: RegExp, message: string) => z.optional(z.string().check(z.regex(re, message)));

/**
 * `GET /operations` (ops contract): filters, a page size of 1..100 (default 50) and the opaque
 * cursor a previous page's `X-Next-Cursor` gave. Each bad value is 400 invalid_request naming it.
 */
export const OperationsQuery = z.object({
  status: blankAsUnset(z.optional(OperationStatus)),
  workspaceId: blankAsUnset(matching(WORKSPACE_ID_RE, 'must be a workspace id')),
  orgId: blankAsUnset(matching(WORKSPACE_ID_RE, 'must be an org id')),
  plugin: blankAsUnset(matching(PLUGIN_NAME_RE, 'must be a plugin name')),
  kind: blankAsUnset(z.optional(OperationKind)),
  since: blankAsUnset(
    z.optional(
      z.pipe(
        z.union([z.iso.datetime({ offset: true }), z.iso.datetime({ offset: true, precision: -1 }), z.iso.date()], {
          error: 'must be an ISO-8601 date or date-time, e.g. 2026-12-01T09:00:00Z',
        }),
        z.transform((text: string) => new Date(text)),
      ),
    ),
  ),
  limit: blankAsUnset(
    z._default(
      z.coerce
        .number({ error: 'must be a whole number from 1 to 100' })
        .check(z.int('must be a whole number from 1 to 100'), z.gte(1), z.lte(OPERATIONS_PAGE_MAX)),
      50,
    ),
  ),
  cursor: blankAsUnset(matching(/^[A-Za-z0-9_-]{1,400}$/, 'not a cursor this API returned')),
});
export type OperationsQuery = z.infer<typeof OperationsQuery>;

/**
 * `DELETE ?at=`: an RFC 3339 date-time with its offset (`2026-12-01T09:00:00Z`,
 * `...T10:00:00+01:00`, seconds optional); an impossible calendar date is refused, not rolled
 * over. The text is kept: two requests are the same when they wrote the same time.
 */
export const At = z.pipe(
  z.union([z.iso.datetime({ offset: true }), z.iso.datetime({ offset: true, precision: -1 })]),
  z.transform((text: string) => ({ text, when: new Date(text) })),
);

/** `DELETE /workspaces/{id}/plugins/{name}?at=`: when to uninstall (now when absent or past). */
export const UninstallQuery = z.object({ at: z.optional(At) });

/** `GET /workspaces/{id}/plugins/{name}/download?source=`: the registry's copy of `name` when absent or blank. */
export const DownloadQuery = z.object({ source: z.optional(z.string().check(z.trim())) });

/** `GET /plugins?runtime=`: only what runs on that runtime; all when absent or blank. */
export const RegistryQuery = z.object({ runtime: z.optional(z.string().check(z.trim())) });

/** `Idempotency-Key` (trimmed; blank is none): the same key and request on a workspace is the same operation. */
export const IdempotencyKey = z.string().check(z.maxLength(255, 'Idempotency-Key must be at most 255 characters'));

/** Path values. */
export const WorkspaceId = z.string().check(z.regex(WORKSPACE_ID_RE));
export const OperationId = z.string().check(z.regex(/^[0-9a-f-]{36}$/));
export const TokenPrefix = z.string().check(z.regex(/^mpd_[ow]_[\w-]{8}$/));
export const InstanceId = z.string().check(z.regex(INSTANCE_ID_RE));

/**
 * `Prefer: wait=N`, N a whole number of seconds (RFC 7240), capped at 25 (API Gateway's own limit
 * is 30). Anything else (`wait=1e1`, `wait=2.5`) is no wait rather than a misread one.
 */
export function preferWaitSeconds(prefer: string | undefined): number {
  const match = /(?:^|[;,\s])wait=(\d+)\s*(?:$|[;,])/i.exec(prefer ?? '');
  return match ? Math.min(25, Number(match[1])) : 0;
}
