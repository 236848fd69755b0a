import * as z from '../../shared/zod.js';
import { DB_RETRY_BUDGET_MS, retryUnavailable } from '../../shared/outage.js';
import { type AppError, InvalidRequest } from '../../shared/errors.js';
import { asOwnError } from '../../shared/aws-faults.js';
import { forOperation, type Log } from '../../shared/logger.js';
import { emitMetric, METRIC } from '../../shared/metrics.js';
import { traced } from '../../shared/tracing.js';
import type { StepDetails, StepRecord } from '../../shared/types.js';
import type { OperationRecords } from '../ports.js';
import { failureDetails } from './explain.js';

/** What a step body returns: the next state, its status when not SUCCEEDED, and what it learned (transport, command id). */
export type StepOutcome<O> = { state: O; status?: StepRecord['status']; details?: StepDetails };

/** The part of the Lambda context a step reads: how long this invocation may still run. */
export interface StepInvocation {
  getRemainingTimeInMillis(): number;
}

/** A step as its Lambda handler calls it; without an invocation (a direct call) nothing bounds it. */
export type StepHandler<O> = (event: unknown, invocation?: StepInvocation) => Promise<O>;

/** The invocation's remaining time in ms, read when asked; undefined outside an invocation. */
export type RemainingTime = (() => number) | undefined;

/** What every step needs to record itself, parsed before the step's own schema. */
const OperationRef = z.object({
  operationId: z.string().check(z.minLength(1)),
  workspace: z.object({ id: z.string().check(z.minLength(1)) }),
  plugin: z.catch(z.nullish(z.string()), null),
});

/**
 * Wraps one workflow step: parses its input with the step's own schema, records it on the
 * operation (RUNNING, then SUCCEEDED / SKIPPED / FAILED, with its attempts, how it reached the
 * host and on failure its error and the host's output tail) and logs with the operation id,
 * workspace, plugin, step and attempt on every line. An input the step cannot take fails it as
 * InvalidRequest, naming the fields. A failure leaves as one of our documented errors (`ownError`),
 * so Step Functions' Retry and Catch never see an AWS SDK error's name. The body gets the
 * invocation's remaining time, so host commands end (cancelled if need be) before the invocation
 * does. Each attempt emits StepDuration and runs in its own X-Ray subsegment annotated with the
 * operation id.
 */
export function defineStep<S extends z.ZodMiniType, O>(
  name: string,
  records: OperationRecords,
  input: S,
  body: (state: z.output<S>, log: Log, remainingMs: RemainingTime) => Promise<StepOutcome<O>>,
): StepHandler<O> {
  return async (event, invocation) => {
    const remainingMs = invocation && (() => invocation.getRemainingTimeInMillis());
    const { operationId, workspace, plugin } = parseInput(name, OperationRef, event);
    const attempt = await durableWrite(() => records.stepStarted(operationId, name), remainingMs);
    const log = forOperation(operationId, { step: name, workspaceId: workspace.id, plugin: plugin ?? null, attempt });
    return traced(name, { operationId, workspaceId: workspace.id, step: name, attempt }, async () => {
      const started = Date.now();
      try {
        const outcome = await body(parseInput(name, input, event), log, remainingMs);
        const status = outcome.status ?? 'SUCCEEDED';
        await durableWrite(() => records.stepEnded(operationId, name, status, outcome.details), remainingMs);
        log.info('step finished', { status, ms: Date.now() - started });
        await emitMetric(METRIC.StepDuration, Date.now() - started, { step: name });
        return outcome.state;
      } catch (err) {
        const failure = ownError(name, err);
        const details = failureDetails(failure);
        const original = failure === err ? {} : { cause: String(err) };
        log.warn('step failed', { error: failure.name, code: failure.code, reason: failure.message, ...original, ms: Date.now() - started });
        await emitMetric(METRIC.StepDuration, Date.now() - started, { step: name });
        // One attempt: the step is retried or caught anyway, and RecordFailure closes the operation.
        await records.stepEnded(operationId, name, 'FAILED', details).catch(() => undefined);
        throw failure;
      }
    });
  };
}

/**
 * The error a step fails with, always one of ours: Step Functions retries and records a failure by
 * its name alone, and an AWS SDK error carries its service's name (S3's `InternalError`,
 * `NotFound`, `InvalidRequest`) and text. Transient AWS trouble (throttling, a 5xx, a dropped
 * connection) is the retried PlatformUnavailable; anything else fails the step as DeliveryFailed.
 * Either keeps the original as `cause`, and names an AWS error in `awsError`.
 */
function ownError(step: string, err: unknown): AppError {
  return asOwnError(err, { transient: `a service the ${step} step uses is briefly unavailable`, failed: `the ${step} step failed unexpectedly` });
}

/** Kept back from a write's retry budget, so the step still ends inside its invocation and reports. */
const WRITE_RESERVE_MS = 3_000;

/**
 * A database write the step depends on, retried through an outage such as an RDS failover
 * (`retryUnavailable`), for as long as the invocation's remaining time allows; outside an
 * invocation (a direct call) it is tried once. Idempotent writes only.
 */
export function durableWrite<T>(work: () => Promise<T>, remainingMs: RemainingTime): Promise<T> {
  const remaining = remainingMs?.() ?? 0;
  const budgetMs = Math.max(0, Math.min(DB_RETRY_BUDGET_MS, remaining - WRITE_RESERVE_MS));
  return retryUnavailable(work, { budgetMs });
}

export function parseInput<S extends z.ZodMiniType>(step: string, schema: S, event: unknown): z.output<S> {
  const parsed = schema.safeParse(event);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`).join('; ');
  throw new InvalidRequest(`the ${step} step cannot take this workflow state (${problems})`);
}
