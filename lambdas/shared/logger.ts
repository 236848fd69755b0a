import { Logger } from '@aws-lambda-powertools/logger';

/** Structured JSON logs; every line of an operation carries its `operationId` (see `forOperation`). */
export const logger = new Logger({
  serviceName: 'molecule-plugin-delivery',
  logLevel: (process.env.LOG_LEVEL as 'INFO' | undefined) ?? (process.env.NODE_ENV === 'test' || process.env.VITEST ? 'SILENT' : 'INFO'),
});

export type Log = Logger;

export function forOperation(operationId: string, extra: Record<string, unknown> = {}): Logger {
  return logger.createChild({ persistentKeys: { operationId, ...extra } });
}
