import { Logger } from '@aws-lambda-powertools/logger';
import { logLevelFrom } from './config.js';

/** Structured JSON logs; every line of an operation carries its `operationId` (see `forOperation`). */
export const logger = new Logger({
  serviceName: 'molecule-plugin-delivery',
  logLevel: logLevelFrom(),
});

export type Log = Logger;

export function forOperation(operationId: string, extra: Record<string, unknown> = {}): Logger {
  return logger.createChild({ persistentKeys: { operationId, ...extra } });
}
