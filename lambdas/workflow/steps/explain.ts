import { AppError, errorFromStepFailure, toErrorRecord } from '../../shared/errors.js';
import type { StepDetails, TransportTaken } from '../../shared/types.js';

/**
 * What a step records about itself for ops (the ops contract's step fields): how it reached the
 * host, and on failure the documented error and the host's last output lines, never a secret.
 */

export const OUTPUT_TAIL_LINES = 20;
export const OUTPUT_LINE_CHARS = 200;

/** The delivery layer's transport names (`eic` is EC2 Instance Connect straight to the private IP). */
export function stepTransport(transport: unknown): TransportTaken | undefined {
  switch (transport) {
    case 'ssm':
      return 'ssm';
    case 'eic':
    case 'eic-direct':
      return 'eic-direct';
    case 'eic-endpoint':
      return 'eic-endpoint';
    default:
      return undefined;
  }
}

/** How the host was reached, from a delivery outcome or an error's details. */
export function hostDetails(from: { transport?: unknown; commandId?: unknown; sshHost?: unknown }): StepDetails {
  const transport = stepTransport(from.transport);
  return {
    ...(transport ? { transport } : {}),
    ...(typeof from.commandId === 'string' && from.commandId ? { commandId: from.commandId } : {}),
    ...(typeof from.sshHost === 'string' && from.sshHost ? { sshHost: from.sshHost } : {}),
  };
}

/**
 * A failed attempt: the documented code and message (an error we did not throw on purpose is
 * `delivery_failed` without its raw text, as the operation's error is), the error's name for the
 * retry that may follow, how the host was reached and what it printed last.
 */
export function failureDetails(err: unknown): StepDetails {
  const e = err instanceof Error ? err : new Error(String(err));
  // Only an AppError is ours: an AWS SDK error may carry one of our names (S3's NotFound).
  const { code, message } = err instanceof AppError ? toErrorRecord(err) : errorFromStepFailure(undefined);
  const details = err instanceof AppError ? err.details : {};
  const tail = outputTail(typeof details.outputTail === 'string' ? details.outputTail : '');
  return {
    errorName: e.name || 'Error',
    error: { code, message: redact(message).slice(0, 1000) },
    ...hostDetails(details),
    ...(tail.length > 0 ? { outputTail: tail } : {}),
  };
}

/** The last 20 non-empty lines of host output, each cut to 200 characters, secrets redacted. */
export function outputTail(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => redact(line).trimEnd())
    .filter((line) => line.trim() !== '')
    .slice(-OUTPUT_TAIL_LINES)
    .map((line) => (line.length > OUTPUT_LINE_CHARS ? `${line.slice(0, OUTPUT_LINE_CHARS - 1)}…` : line));
}

const REDACTED = '<redacted>';

/**
 * Removes what may be a secret from one line of text: query strings of URLs (a presigned URL's
 * signature), bearer and basic credentials, `token=`/`password:`-style values, AWS access key
 * ids, our own API tokens, and long opaque strings (keys, signatures, JWTs); control characters go too.
 */
export function redact(line: string): string {
  return line
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '')
    .replace(/\b(https?:\/\/[^\s?#'"]*)\?[^\s'"]*/gi, `$1?${REDACTED}`)
    .replace(/\b(Bearer|Basic|Token)\s+[^\s'"]+/gi, `$1 ${REDACTED}`)
    .replace(
      /\b([\w.-]*(?:token|secret|password|passwd|pwd|api[_-]?key|access[_-]?key|credential|signature|authorization|session)[\w.-]*)(["']?\s*[:=]\s*["']?)[^\s'",;&]+/gi,
      `$1$2${REDACTED}`,
    )
    .replace(/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, REDACTED)
    .replace(/\bmpd_[a-z]_[\w-]+/g, REDACTED)
    .replace(/\beyJ[\w-]+\.[\w-]+\.[\w-]*/g, REDACTED)
    .replace(/[A-Za-z0-9+/_-]{40,}={0,2}/g, (run) => (/\d/.test(run) && /[A-Za-z]/.test(run) ? REDACTED : run));
}
