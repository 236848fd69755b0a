import { z } from 'zod';
import type { Db } from '../../store/db.js';
import { stepEnded, stepStarted } from '../../store/operations.js';
import { InvalidRequest } from '../../shared/errors.js';
import { forOperation, type Log } from '../../shared/logger.js';
import type { StepRecord } from '../../shared/types.js';

export type StepOutcome<O> = { state: O; status?: StepRecord['status'] };

/** What every step needs to record itself, parsed before the step's own schema. */
const OperationRef = z.object({ operationId: z.string().min(1), workspace: z.object({ id: z.string().min(1) }) });

/**
 * Wraps one workflow step: parses its input with the step's own schema, records it on the
 * operation (RUNNING, then SUCCEEDED / SKIPPED / FAILED) and logs with the operation id. An input
 * the step cannot take fails it as InvalidRequest, naming the fields. A failure is re-thrown
 * unchanged so Step Functions sees its `name` for Retry and Catch.
 */
export function defineStep<S extends z.ZodType, O>(
  name: string,
  db: Db,
  input: S,
  body: (state: z.output<S>, log: Log) => Promise<StepOutcome<O>>,
): (event: unknown) => Promise<O> {
  return async (event) => {
    const { operationId, workspace } = parseInput(name, OperationRef, event);
    const log = forOperation(operationId, { step: name, workspaceId: workspace.id });
    await stepStarted(db, operationId, name);
    const started = Date.now();
    try {
      const outcome = await body(parseInput(name, input, event), log);
      await stepEnded(db, operationId, name, outcome.status ?? 'SUCCEEDED');
      log.info('step finished', { status: outcome.status ?? 'SUCCEEDED', ms: Date.now() - started });
      return outcome.state;
    } catch (err) {
      const e = err as Error;
      log.warn('step failed', { error: e.name, reason: e.message, ms: Date.now() - started });
      await stepEnded(db, operationId, name, 'FAILED').catch(() => undefined);
      throw err;
    }
  };
}

export function parseInput<S extends z.ZodType>(step: string, schema: S, event: unknown): z.output<S> {
  const parsed = schema.safeParse(event);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`).join('; ');
  throw new InvalidRequest(`the ${step} step cannot take this workflow state (${problems})`);
}
