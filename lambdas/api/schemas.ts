import * as z from 'zod';
import { parseIsoDuration } from '../shared/iso-duration.js';
import { INSTANCE_ID_RE, OperationKind, OperationStatus, PLUGIN_NAME_RE, Transport } from '../shared/types.js';
import { OPERATIONS_PAGE_MAX } from '../store/operations.js';

/** Request bodies and query strings, parsed once at the edge. */

export const InstallBody = z.object({
  source: z
    .string({ error: (issue) => (issue.input === undefined ? 'missing source' : 'source must be a string') })
    .trim()
    .min(1, 'missing source'),
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'sha256 must be 64 hex characters')
    .transform((v) => v.toLowerCase())
    .optional(),
  restart: z.boolean().default(true),
  /** SPEC §4 origins: whether this install may replace an installed plugin of another origin. */
  replace: z.boolean().default(false),
  uninstallAfter: z
    .string()
    .transform((v, ctx) => {
      const duration = parseIsoDuration(v);
      if (duration) return duration;
      ctx.issues.push({ code: 'custom', input: v, message: 'uninstallAfter must be an ISO-8601 duration such as P7D, PT12H or P1M' });
      return z.NEVER;
    })
    .optional(),
});
export type InstallBody = z.infer<typeof InstallBody>;

export const WorkspaceBody = z.object({
  orgId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'orgId must be 1-128 letters, digits, ".", "_" or "-"'),
  runtime: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'runtime must be a lower-case identifier'),
  instanceId: z.string().max(64).nullable().optional(),
  transport: Transport.default('auto'),
  status: z
    .string()
    .regex(/^[a-z_]{1,32}$/)
    .default('online'),
});

/** A bare name allows the plugin from anywhere; `{name, source}` pins it to an origin or an owner prefix. */
export const AllowlistBody = z.object({
  plugins: z.array(z.union([z.string(), z.strictObject({ name: z.string(), source: z.string().trim().min(1).optional() })])).max(1000),
  enabled_by: z.string().trim().min(1).max(256),
});

export const WORKSPACE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** `?status=` with no value is no filter, as in most APIs. */
const blankAsUnset = (v: unknown) => (v === '' ? undefined : v);

/**
 * `GET /operations` (ops contract): filters, a page size of 1..100 (default 50) and the opaque
 * cursor a previous page's `X-Next-Cursor` gave. Each bad value is 400 invalid_request naming it.
 */
export const OperationsQuery = z.object({
  status: z.preprocess(blankAsUnset, OperationStatus.optional()),
  workspaceId: z.preprocess(blankAsUnset, z.string().regex(WORKSPACE_ID_RE, 'must be a workspace id').optional()),
  orgId: z.preprocess(blankAsUnset, z.string().regex(WORKSPACE_ID_RE, 'must be an org id').optional()),
  plugin: z.preprocess(blankAsUnset, z.string().regex(PLUGIN_NAME_RE, 'must be a plugin name').optional()),
  kind: z.preprocess(blankAsUnset, OperationKind.optional()),
  since: z.preprocess(
    blankAsUnset,
    z
      .union([z.iso.datetime({ offset: true }), z.iso.datetime({ offset: true, precision: -1 }), z.iso.date()], {
        error: 'must be an ISO-8601 date or date-time, e.g. 2026-12-01T09:00:00Z',
      })
      .transform((text) => new Date(text))
      .optional(),
  ),
  limit: z.preprocess(
    blankAsUnset,
    z.coerce.number({ error: 'must be a whole number from 1 to 100' }).int('must be a whole number from 1 to 100').min(1).max(OPERATIONS_PAGE_MAX).default(50),
  ),
  cursor: z.preprocess(
    blankAsUnset,
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,400}$/, 'not a cursor this API returned')
      .optional(),
  ),
});
export type OperationsQuery = z.infer<typeof OperationsQuery>;

/**
 * `DELETE ?at=`: an RFC 3339 date-time with its offset (`2026-12-01T09:00:00Z`,
 * `...T10:00:00+01:00`, seconds optional); an impossible calendar date is refused, not rolled
 * over. The text is kept: two requests are the same when they wrote the same time.
 */
export const At = z
  .union([z.iso.datetime({ offset: true }), z.iso.datetime({ offset: true, precision: -1 })])
  .transform((text) => ({ text, when: new Date(text) }));

/** Path values. */
export const WorkspaceId = z.string().regex(WORKSPACE_ID_RE);
export const OperationId = z.string().regex(/^[0-9a-f-]{36}$/);
export const TokenPrefix = z.string().regex(/^mpd_[ow]_[\w-]{8}$/);
export const InstanceId = z.string().regex(INSTANCE_ID_RE);

/**
 * `Prefer: wait=N`, N a whole number of seconds (RFC 7240), capped at 25 (API Gateway's own limit
 * is 30). Anything else (`wait=1e1`, `wait=2.5`) is no wait rather than a misread one.
 */
export function preferWaitSeconds(prefer: string | undefined): number {
  const match = /(?:^|[;,\s])wait=(\d+)\s*(?:$|[;,])/i.exec(prefer ?? '');
  return match ? Math.min(25, Number(match[1])) : 0;
}
