import { createHash, randomUUID } from 'node:crypto';
import type { Operation } from '../shared/types.js';
import type { WorkflowState } from '../workflow/steps/state.js';
import { IdempotencyKeyReused, PlatformUnavailable } from '../shared/errors.js';
import type { Log } from '../shared/logger.js';
import { consoleUrlFor, executionName } from '../shared/execution-name.js';
import { emitMetric, METRIC } from '../shared/metrics.js';
import type { Clock, OperationPorts, OperationStore } from './ports.js';
import { orgAtCapacity } from './capacity.js';

/**
 * The workflow's starting state, plus who asked, the request's idempotency key and what the
 * request said (`asked`: the fields that make two requests the same, before anything derived
 * from the time, such as `uninstallAt`, is worked out).
 */
export type OperationRequest = Pick<
  WorkflowState,
  | 'kind'
  | 'workspace'
  | 'source'
  | 'plugin'
  | 'expectedSha256'
  | 'restart'
  | 'replace'
  | 'uninstallAt'
  | 'healthCheck'
  | 'revision'
  | 'rolloutId'
  | 'signature'
  | 'repair'
> & {
  idempotencyKey: string | null;
  actorPrefix: string | null;
  asked: Record<string, unknown>;
  /** Refuse it (429 too_many_operations) when the org already has this many in flight; absent, no cap. */
  maxInFlightForOrg?: number;
};

function requestHash({ kind, asked }: Pick<OperationRequest, 'kind' | 'asked'>): string {
  const entries = Object.entries({ kind, ...asked }).sort(([a], [b]) => (a < b ? -1 : 1));
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex');
}

/**
 * An operation found under a request's idempotency key, refused when a different request made it
 * (operations from before request hashes were stored carry none and are taken as the same).
 */
function asReplay(earlier: { operation: Operation; requestHash: string | null }, request: Pick<OperationRequest, 'kind' | 'asked'>): Operation {
  if (earlier.requestHash !== null && earlier.requestHash !== requestHash(request)) {
    throw new IdempotencyKeyReused('this Idempotency-Key was already used on this workspace for a different request', {
      operationId: earlier.operation.operationId,
    });
  }
  return earlier.operation;
}

/**
 * The operation an earlier request with this idempotency key started, when there is one: a
 * replay answers with it even once its effect changed what a new request would be checked
 * against (an uninstall replayed after the plugin is gone). Refused when that request differed.
 */
export async function replayedOperation(
  operations: OperationStore,
  workspaceId: string,
  key: string | null,
  request: Pick<OperationRequest, 'kind' | 'asked'>,
): Promise<Operation | null> {
  const earlier = key ? await operations.findByIdempotencyKey(workspaceId, key) : null;
  return earlier && asReplay(earlier, request);
}

/**
 * Records the operation and starts its workflow. A repeated idempotency key returns the first
 * operation and starts nothing, or is refused (422) when it comes with a different request. If
 * the workflow cannot be started the operation is closed as failed and the caller gets 503, so no
 * RUNNING row is left without an execution behind it.
 */
export async function startOperation(deps: OperationPorts & { log: Log }, request: OperationRequest): Promise<{ operation: Operation; created: boolean }> {
  const operationId = randomUUID();
  const requestedAt = deps.clock.now();
  const name = executionName({ kind: request.kind, workspaceId: request.workspace.id, plugin: request.plugin, operationId });
  const recorded = await deps.operations.create({
    id: operationId,
    workspaceId: request.workspace.id,
    orgId: request.workspace.orgId,
    kind: request.kind,
    plugin: request.plugin,
    source: request.source,
    sha256: request.expectedSha256,
    idempotencyKey: request.idempotencyKey,
    requestHash: request.idempotencyKey ? requestHash(request) : null,
    actorPrefix: request.actorPrefix,
    executionArn: deps.workflow.executionArnFor(name),
    executionName: name,
    maxInFlightForOrg: request.maxInFlightForOrg ?? null,
    rolloutId: request.rolloutId ?? null,
  });
  if ('refused' in recorded) throw orgAtCapacity(request.workspace.orgId, recorded.inFlight, request.maxInFlightForOrg ?? 0);
  if ('joined' in recorded) return { operation: recorded.operation, created: false };
  if (!recorded.created) return { operation: asReplay(recorded, request), created: false };
  const { operation, created } = recorded;

  const { idempotencyKey: _key, actorPrefix: _actor, asked: _asked, maxInFlightForOrg: _cap, ...start } = request;
  const input: WorkflowState = { operationId, requestedAt: requestedAt.toISOString(), ...start };
  try {
    const executionArn = await deps.workflow.start(name, input);
    // Recorded up front when derivable, so the usual accept path writes the database once.
    if (executionArn !== operation.executionArn) await deps.operations.setExecutionArn(operationId, executionArn);
    if (request.kind === 'install' || request.kind === 'uninstall') {
      await emitMetric(request.kind === 'install' ? METRIC.InstallsStarted : METRIC.UninstallsStarted, 1);
    }
    return { operation: { ...operation, executionArn, consoleUrl: consoleUrlFor(executionArn) }, created };
  } catch (err) {
    deps.log.error('could not start the workflow', { operationId, error: (err as Error).message });
    const failure = new PlatformUnavailable('the delivery workflow could not be started; try again');
    await deps.operations.fail(operationId, { code: failure.code, message: failure.message, httpStatus: failure.status });
    throw failure;
  }
}

const POLL_FIRST_MS = 25;
const POLL_GROWTH = 1.3;
const POLL_MAX_MS = 2_000;

/**
 * How long a `Prefer: wait` poll sleeps before its `attempt`-th re-read: 25 ms growing ×1.3 to
 * 2 s, each drawn from the upper half of its step (equal jitter), so waiting clients do not poll
 * in step. An install that ends after T ms is seen at most 0.4 T (and 2 s) later; ×1.5 made a
 * 150–800 ms local install wait ~125 ms past its end on average, ×1.3 ~75 ms. DB load bound: at most 15
 * reads in a wait's first 2 s, at most one a second per waiting client from its fourth second
 * on, at most 40 reads in a 25 s wait, however many clients wait.
 */
export function pollDelay(attempt: number, random: () => number = Math.random): number {
  const step = Math.min(POLL_MAX_MS, POLL_FIRST_MS * POLL_GROWTH ** attempt);
  return step / 2 + random() * (step / 2);
}

/** Polls the operation until it leaves RUNNING or `waitMs` passes (Prefer: wait=N), backing off as `pollDelay` says. */
export async function waitForOperation(
  deps: { operations: OperationStore; clock: Clock; random?: () => number },
  operationId: string,
  waitMs: number,
): Promise<Operation | null> {
  const deadline = deps.clock.now().getTime() + waitMs;
  for (let attempt = 0; ; attempt++) {
    const operation = await deps.operations.get(operationId);
    const now = deps.clock.now().getTime();
    if (operation?.status !== 'RUNNING' || now >= deadline) return operation;
    await deps.clock.sleep(Math.min(Math.round(pollDelay(attempt, deps.random)), deadline - now));
  }
}

/** A just-started operation as the caller asked to see it: at once, or once it finished within `waitSeconds`. */
export async function settled(deps: { operations: OperationStore; clock: Clock }, operation: Operation, waitSeconds: number): Promise<Operation> {
  if (waitSeconds === 0 || operation.status !== 'RUNNING') return operation;
  return (await waitForOperation(deps, operation.operationId, waitSeconds * 1000)) ?? operation;
}
