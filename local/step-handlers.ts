import type { StepName } from '../infra/workflow.js';
import { handler as Stage } from '../lambdas/handlers/stage.js';
import { handler as CheckAllowlist } from '../lambdas/handlers/check-allowlist.js';
import { handler as Deliver } from '../lambdas/handlers/deliver.js';
import { handler as Remove } from '../lambdas/handlers/remove.js';
import { handler as Restart } from '../lambdas/handlers/restart.js';
import { handler as Record } from '../lambdas/handlers/record.js';
import { handler as RecordFailure } from '../lambdas/handlers/record-failure.js';

/** Each Task state of the workflow bound to the very function its Lambda exports. */
export const STEP_HANDLERS: Record<StepName, (input: never) => Promise<unknown>> = {
  Stage, CheckAllowlist, Deliver, Remove, Restart, Record, RecordFailure,
};
