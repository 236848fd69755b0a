import * as z from '../shared/zod.js';
import { DeliveryFailed } from '../shared/errors.js';

/** A script to run as root on a workspace's host, whatever the transport. */
export interface HostCommand {
  instanceId: string;
  script: string;
  /** Bound on the script's run time on the host; the caller waits a little longer for the report. */
  timeoutMs: number;
  /**
   * Epoch ms after which the caller stops waiting even if the host's bound is later: the command
   * is cancelled then (SSM CancelCommand; over SSH the channel is closed), so it never outlives
   * the invocation that started it.
   */
  deadline?: number;
  signal?: AbortSignal;
}

export interface HostCommandResult {
  status: string;
  stdout: string;
  stderr: string;
  exitCode: number;
  /** How the command was run, for ops: the SSM command id, or the host SSH connected to. */
  commandId?: string;
  sshHost?: string;
}

/**
 * Every host script prints exactly one line to stdout, last: this prefix and a JSON object.
 * Everything else goes to stderr, because SSM keeps only the first 24 000 characters of stdout.
 */
export const RESULT_PREFIX = 'MOLECULE_RESULT ';

const HostResultSchema = z.object({
  ok: z.boolean(),
  action: z.optional(z.string()),
  code: z.optional(z.string()),
  step: z.optional(z.string()),
  restored: z.optional(z.boolean()),
  replacedPrevious: z.optional(z.boolean()),
  changedOnlySkillDocs: z.optional(z.boolean()),
  removedSkills: z.optional(z.number().check(z.int(), z.nonnegative())),
  keptSkills: z.optional(z.array(z.string())),
  strippedFiles: z.optional(z.number().check(z.int(), z.nonnegative())),
  /** probe.sh: whether the plugin dir is there, its inode, and base64 of its version line and install marker. */
  present: z.optional(z.boolean()),
  dirId: z.optional(z.string()),
  version: z.optional(z.string()),
  marker: z.optional(z.string()),
  /** health.sh: the verdict, whether the host was put back (unhealthy only), the runs, and base64 of the last run's output tail. */
  healthy: z.optional(z.boolean()),
  rolledBack: z.optional(z.boolean()),
  checks: z.optional(z.number().check(z.int(), z.positive())),
  output: z.optional(z.string()),
  /** inventory.sh: the size of the inventory it uploaded (or would have), and how many plugin files it lists. */
  bytes: z.optional(z.number().check(z.int(), z.nonnegative())),
  files: z.optional(z.number().check(z.int(), z.nonnegative())),
  /** clean.sh: how many debris paths it removed. */
  removed: z.optional(z.number().check(z.int(), z.nonnegative())),
});
export type HostResult = z.infer<typeof HostResultSchema>;

/** The last well-formed result line in `stdout`, or null when the script never got to report. */
export function parseHostResult(stdout: string): HostResult | null {
  const lines = stdout.split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith(RESULT_PREFIX)) continue;
    try {
      const parsed = HostResultSchema.safeParse(JSON.parse(line.slice(RESULT_PREFIX.length)));
      if (parsed.success) return parsed.data;
    } catch {
      // a malformed line is no report; keep looking for an earlier one
    }
  }
  return null;
}

/** How a host command that ran ended, when it did not succeed. */
export interface HostFailure {
  status: 'Failed' | 'TimedOut' | 'Cancelled';
  exitCode: number;
  /** The signal that ended the script, when the transport reports one (SSH). */
  exitSignal?: string;
  /** The script's own report, when it got to print one: names the step it failed in. */
  hostResult: HostResult | null;
  /** For ops logs only (see sanitizedTail). */
  outputTail: string;
}

/**
 * A host script that ran and failed, timed out or was cancelled: delivery_failed, with what the
 * host reported as typed fields (`failure`) besides the error details every error carries.
 */
export class HostCommandFailed extends DeliveryFailed {
  readonly failure: HostFailure;

  constructor(message: string, context: Record<string, unknown>, failure: HostFailure, options?: { cause?: unknown }) {
    super(message, { ...context, ...failure }, options);
    this.failure = failure;
  }
}

/** About the 20 lines of 200 characters an operation step shows (workflow/steps/explain.ts). */
const TAIL_CHARS = 4000;

/**
 * A short tail of host output for ops logs (never for an API message): control characters
 * dropped and query strings removed, since a presigned URL's signature may appear in errors.
 */
export function sanitizedTail(text: string, maxChars = TAIL_CHARS): string {
  const cleaned = text
    .replace(/(https?:\/\/[^\s?'"]*)\?[^\s'"]*/g, '$1?<redacted>')
    .replace(/[^\x20-\x7e\n\t]/g, '')
    .trim();
  return cleaned.length > maxChars ? `…${cleaned.slice(-maxChars)}` : cleaned;
}
