import { Logger } from '@aws-lambda-powertools/logger';
import { logLevelFrom } from './config.js';

/** Structured JSON logs; every line of an operation carries its `operationId` (see `forOperation`). */
export const logger = new Logger({
  serviceName: 'molecule-plugin-delivery',
  logLevel: logLevelFrom(),
});

/** What code logs through: the Logger itself or `withKeys`'s wrapper of it. */
export interface Log {
  debug(message: string, ...extra: unknown[]): void;
  info(message: string, ...extra: unknown[]): void;
  warn(message: string, ...extra: unknown[]): void;
  error(message: string, ...extra: unknown[]): void;
}

type Level = keyof Log;
const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];

/**
 * Every line logged through it carries `keys` (a request's or an operation's id), without a child Logger:
 * `createChild` constructs a whole Logger and reads its settings from the environment again, which
 * cost the API thread ~0.3 ms of its ~5 ms per request (issue #28). The keys go first, so what a
 * call passes wins, and an Error passed to it is formatted as the Logger formats one.
 */
export function withKeys(base: Logger, keys: Record<string, unknown>): Log {
  const emit = base as unknown as Record<Level, (message: string, ...extra: unknown[]) => void>;
  return Object.fromEntries(
    LEVELS.map((level) => [level, (message: string, ...extra: unknown[]) => emit[level].call(base, message, keys, ...extra)]),
  ) as unknown as Log;
}

export function forOperation(operationId: string, extra: Record<string, unknown> = {}): Log {
  return withKeys(logger, { operationId, ...extra });
}
