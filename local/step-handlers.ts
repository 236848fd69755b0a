import { STEP_LAMBDA_TIMEOUTS, TASK_STATES, type StepName } from '../infra/workflow.js';
import { errorNamesRetried } from '../lambdas/shared/errors.js';
import type { StepInvocation } from '../lambdas/workflow/steps/step.js';
import { shortRetryIntervals } from './sfn/engine.js';
import { handler as Stage } from '../lambdas/handlers/stage.js';
import { handler as CheckAllowlist } from '../lambdas/handlers/check-allowlist.js';
import { handler as Deliver } from '../lambdas/handlers/deliver.js';
import { handler as Remove } from '../lambdas/handlers/remove.js';
import { handler as Restart } from '../lambdas/handlers/restart.js';
import { handler as Record } from '../lambdas/handlers/record.js';
import { handler as VerifyHealth } from '../lambdas/handlers/verify-health.js';
import { handler as Plan } from '../lambdas/handlers/plan.js';
import { handler as Rollout } from '../lambdas/handlers/rollout.js';
import { handler as RecordFailure } from '../lambdas/handlers/record-failure.js';
import { handler as Inventory } from '../lambdas/handlers/inventory.js';
import { handler as Repair } from '../lambdas/handlers/repair.js';

type StepLambda = (input: never, invocation?: StepInvocation) => Promise<unknown>;

const LAMBDAS: Record<StepName, StepLambda> = {
  Stage,
  CheckAllowlist,
  Deliver,
  Remove,
  Restart,
  VerifyHealth,
  Record,
  Plan,
  RecordFailure,
  Rollout,
  Inventory,
  Repair,
};

/**
 * Each Task state of the workflow bound to the very function its Lambda exports (the plan path's
 * states to Stage's and CheckAllowlist's), invoked as Lambda would: with a context whose remaining
 * time counts down from that function's timeout.
 */
export const STEP_HANDLERS = Object.fromEntries(
  Object.entries(TASK_STATES).map(([state, name]) => [
    state,
    (input: never) => {
      const endsAt = Date.now() + STEP_LAMBDA_TIMEOUTS[name].toMilliseconds();
      return LAMBDAS[name](input, { getRemainingTimeInMillis: () => Math.max(0, endsAt - Date.now()) });
    },
  ]),
) as Record<string, (input: never) => Promise<unknown>>;

/** Locally a retry waits this long instead of the deployed backoff (a throttling burst is emulated, not real). */
const LOCAL_RETRY_WAIT_MS = 100;

/**
 * The local stack's retry waits: short, except for a busy workspace, which waits as deployed
 * because the operation holding it is doing real work.
 */
export function localRetryIntervals(definition: object): Record<string, number[]> {
  return shortRetryIntervals(definition, LOCAL_RETRY_WAIT_MS, errorNamesRetried('lease'));
}
