import { z } from 'zod';
import { parseIsoDuration } from '../shared/iso-duration.js';
import { Transport } from '../shared/types.js';

/** Request bodies and query strings, parsed once at the edge. */

export const InstallBody = z.object({
  source: z.string({ error: 'missing source' }).trim().min(1, 'missing source'),
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'sha256 must be 64 hex characters')
    .transform((v) => v.toLowerCase())
    .optional(),
  restart: z.boolean().default(true),
  uninstallAfter: z
    .string()
    .refine((v) => parseIsoDuration(v) !== null, 'uninstallAfter must be an ISO-8601 duration such as P7D or PT12H')
    .optional(),
});
export type InstallBody = z.infer<typeof InstallBody>;

export const WorkspaceBody = z.object({
  orgId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'orgId must be 1-128 letters, digits, ".", "_" or "-"'),
  runtime: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'runtime must be a lower-case identifier'),
  instanceId: z.string().max(64).nullable().optional(),
  transport: Transport.default('auto'),
  status: z.string().regex(/^[a-z_]{1,32}$/).default('online'),
});

export const AllowlistBody = z.object({
  plugins: z.array(z.string()).max(1000),
  enabled_by: z.string().trim().min(1).max(256),
});

export const WORKSPACE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const OperationsQuery = z.object({
  status: z.enum(['RUNNING', 'SUCCEEDED', 'FAILED']).optional(),
  workspaceId: z.string().regex(WORKSPACE_ID_RE).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** `Prefer: wait=N`, N capped at 25 seconds (API Gateway's own limit is 30). */
export function preferWaitSeconds(prefer: string | undefined): number {
  const match = /(?:^|[;,\s])wait=(\d+)/i.exec(prefer ?? '');
  return match ? Math.min(25, Number(match[1])) : 0;
}
