import { App, Duration, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { errorNamesRetried } from '../lambdas/shared/errors.js';

/**
 * The plugin delivery workflow (SPEC §1): one definition, built here, deployed by the stack and
 * executed by the local engine. JSONPath only; every Task's output replaces the state document
 * (`WorkflowState`), every failure is caught into `$.error` and recorded by RecordFailure.
 *
 *   ByKind ─install, rollback─▶ Stage ▶ CheckAllowlist ▶ Deliver ─┐
 *          ├uninstall─────────▶ Remove ───────────────────────────┴▶ Restart ▶ VerifyHealth ▶ Record ▶ Verdict ─▶ Done
 *          │                                                                                                  └unhealthy▶ HealthCheckFailed
 *          ├plan──────────────▶ PlanStage ▶ PlanCheckAllowlist ▶ Plan ▶ Done
 *          ├verify────────────▶ Inventory ▶ Done
 *          └repair────────────▶ RepairInventory ▶ RepairStage ▶ Repair ─▶ Restart ▶ VerifyHealth ▶ Record ▶ Verdict …
 *   any Task ──catch──▶ RecordFailure ▶ Failed
 *
 * A state has one next state, so the plan and repair paths have Task states of their own
 * (PlanStage, PlanCheckAllowlist; RepairInventory, RepairStage) that invoke the Stage,
 * CheckAllowlist and Inventory functions: no Choice after them,
 * and a healthy install passes 9 states (ByKind … Record, Verdict, Done). Steps skip themselves
 * where a kind does not need them (CheckAllowlist's origin check on a rollback, VerifyHealth on
 * an uninstall, Restart after a repair that delivered nothing).
 */

export const STEP_NAMES = [
  'Stage',
  'CheckAllowlist',
  'Deliver',
  'Remove',
  'Restart',
  'VerifyHealth',
  'Record',
  'Plan',
  'RecordFailure',
  'Inventory',
  'Repair',
  'Rollout',
] as const;
export type StepName = (typeof STEP_NAMES)[number];

/**
 * How long each step's Lambda may run. The Task timeout adds a margin on top, so a slow step
 * ends as the function's own timeout (its error reaches the Catch) and `States.Timeout` is only
 * the backstop for a lost invocation. Stage and Deliver cover the 5 min fetch/delivery budgets.
 */
/** Every Task state and the step function it invokes: the plan and repair paths' own states reuse Stage's, CheckAllowlist's and Inventory's. */
export const TASK_STATES: Readonly<Record<string, StepName>> = {
  ...Object.fromEntries(STEP_NAMES.filter((name) => name !== 'Rollout').map((name) => [name, name])),
  PlanStage: 'Stage',
  PlanCheckAllowlist: 'CheckAllowlist',
  RolloutPrepare: 'Rollout',
  RolloutTick: 'Rollout',
  RolloutFailed: 'Rollout',
  RepairInventory: 'Inventory',
  RepairStage: 'Stage',
};

export const STEP_LAMBDA_TIMEOUTS: Record<StepName, Duration> = {
  Stage: Duration.minutes(6),
  CheckAllowlist: Duration.seconds(30),
  Deliver: Duration.minutes(6),
  Remove: Duration.minutes(6),
  Restart: Duration.minutes(3),
  // PLUGIN_HEALTH_TIMEOUT is at most 4 min; then the restore and a second restart.
  VerifyHealth: Duration.minutes(6),
  Plan: Duration.seconds(90),
  // Its first invocation stages the rollout's plugin once (Stage's 5 min fetch budget); a tick is short.
  Rollout: Duration.minutes(6),
  // Room for a database write to ride out an RDS failover (60 s) inside one invocation.
  Record: Duration.seconds(90),
  RecordFailure: Duration.seconds(90),
  // The host's listing and its upload, bounded like a delivery; then reading it back.
  Inventory: Duration.minutes(6),
  // A reinstall delivers each plugin in turn, each bounded like a delivery and by what is left.
  Repair: Duration.minutes(10),
};
const TASK_TIMEOUT_MARGIN = Duration.seconds(30);

/**
 * Another operation holds the workspace lease: ask again at most 5 s apart, since only the oldest
 * waiting operation may take a freed workspace (lambdas/store/leases.ts: operations reach a host in
 * the order they were accepted), so a workspace waits seconds, not half a minute, for the next in
 * its queue; for about 6 minutes on average (full jitter), room for a queue as long as the org's
 * cap on operations in flight before one gives up as 503 workspace_busy.
 */
export const LEASE_RETRY = {
  interval: Duration.seconds(1),
  backoffRate: 1.5,
  maxAttempts: 150,
  maxDelay: Duration.seconds(5),
  jitterStrategy: sfn.JitterType.FULL,
} satisfies sfn.RetryProps;

/** Transient database or fetch trouble in a step: a few quick retries, then the Catch. */
const STEP_BACKOFF = {
  interval: Duration.seconds(1),
  backoffRate: 2,
  maxAttempts: 4,
  jitterStrategy: sfn.JitterType.FULL,
} satisfies sfn.RetryProps;

/**
 * Record and RecordFailure close the operation: their retries must outlast an RDS failover even
 * when every in-function retry ran out (on average over a minute of waits with full jitter).
 */
const CLOSING_BACKOFF = {
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 8,
  maxDelay: Duration.seconds(30),
  jitterStrategy: sfn.JitterType.FULL,
} satisfies sfn.RetryProps;

/** Placeholder ARNs for `synthesizeDefinition`: the local engine replaces every Task anyway. */
const PLACEHOLDER_ARN_PREFIX = 'arn:aws:lambda:us-east-1:000000000000:function:molecule-';

export function buildWorkflow(scope: Construct, id: string, fns: Record<StepName, lambda.IFunction>): sfn.DefinitionBody {
  const root = new Construct(scope, id);
  const step = (name: StepName, stateName: string = name): tasks.LambdaInvoke =>
    tasks.LambdaInvoke.jsonPath(root, stateName, {
      lambdaFunction: fns[name],
      payloadResponseOnly: true,
      taskTimeout: sfn.Timeout.duration(STEP_LAMBDA_TIMEOUTS[name].plus(TASK_TIMEOUT_MARGIN)),
    });
  const withTransientRetries = (task: sfn.TaskStateBase, backoff: sfn.RetryProps = STEP_BACKOFF): sfn.TaskStateBase =>
    task
      .addRetry({ errors: errorNamesRetried('lease'), ...LEASE_RETRY })
      // AWS throttling (ours calling EC2/SSM/EIC, or Step Functions invoking Lambda) comes in bursts.
      .addRetry({
        errors: [...errorNamesRetried('throttle'), 'Lambda.TooManyRequestsException'],
        interval: Duration.seconds(3),
        backoffRate: 2,
        maxAttempts: 8,
        maxDelay: Duration.seconds(60),
        jitterStrategy: sfn.JitterType.FULL,
      })
      .addRetry({ errors: errorNamesRetried('backoff'), ...backoff });

  const failed = sfn.Fail.jsonPath(root, 'Failed', { errorPath: '$.error.Error', causePath: '$.error.Cause' });
  // RecordFailure's result is discarded: the state (with the caught `$.error`) reaches Failed as is,
  // and if recording itself keeps failing the execution still fails with the step's own error.
  const recordFailure = withTransientRetries(
    tasks.LambdaInvoke.jsonPath(root, 'RecordFailure', {
      lambdaFunction: fns.RecordFailure,
      payloadResponseOnly: true,
      resultPath: sfn.JsonPath.DISCARD,
      taskTimeout: sfn.Timeout.duration(STEP_LAMBDA_TIMEOUTS.RecordFailure.plus(TASK_TIMEOUT_MARGIN)),
    }),
    CLOSING_BACKOFF,
  );
  recordFailure.addCatch(failed, { errors: [sfn.Errors.ALL], resultPath: '$.recordFailureError' });
  recordFailure.next(failed);

  const guarded = (name: StepName, stateName: string = name): sfn.TaskStateBase =>
    withTransientRetries(step(name, stateName), name === 'Record' || name === 'Plan' ? CLOSING_BACKOFF : STEP_BACKOFF).addCatch(recordFailure, {
      errors: [sfn.Errors.ALL],
      resultPath: '$.error',
    });

  const done = sfn.Succeed.jsonPath(root, 'Done');
  // Record closed the operation either way; an unhealthy verdict still fails the execution, so
  // ops watching executions see it.
  const unhealthy = sfn.Fail.jsonPath(root, 'HealthCheckFailed', {
    error: 'HealthCheckFailed',
    cause: 'the agent did not pass its health check after the change; the operation has the details',
  });
  const verdict = sfn.Choice.jsonPath(root, 'Verdict')
    .when(sfn.Condition.and(sfn.Condition.isPresent('$.health.healthy'), sfn.Condition.booleanEquals('$.health.healthy', false)), unhealthy)
    .otherwise(done);
  const restart = guarded('Restart');
  restart.next(guarded('VerifyHealth')).next(guarded('Record')).next(verdict);
  const install = guarded('Stage').next(guarded('CheckAllowlist')).next(guarded('Deliver')).next(restart);
  const uninstall = guarded('Remove').next(restart);
  const plan = guarded('Stage', 'PlanStage').next(guarded('CheckAllowlist', 'PlanCheckAllowlist')).next(guarded('Plan')).next(done);

  // A fleet rollout (SPEC §10): stage once, then tick until the ledger says it is over; each tick
  // starts installs as executions of their own, so this one's history grows by 3 events a tick and
  // the driver hands over to a fresh execution long before 25 000.
  const rolloutFailed = withTransientRetries(step('Rollout', 'RolloutFailed'), CLOSING_BACKOFF).next(
    sfn.Fail.jsonPath(root, 'RolloutDriverFailed', { errorPath: '$.error.Error', causePath: '$.error.Cause' }),
  );
  const rolloutStep = (stateName: string) =>
    withTransientRetries(step('Rollout', stateName)).addCatch(rolloutFailed, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
  const rolloutTick = rolloutStep('RolloutTick');
  const rolloutNext = sfn.Choice.jsonPath(root, 'RolloutNext')
    .when(sfn.Condition.booleanEquals('$.done', true), done)
    .otherwise(sfn.Wait.jsonPath(root, 'RolloutWait', { time: sfn.WaitTime.secondsPath('$.waitSeconds') }).next(rolloutTick));
  rolloutTick.next(rolloutNext);
  const rollout = rolloutStep('RolloutPrepare').next(rolloutNext);
  const verify = guarded('Inventory').next(done);
  const repair = guarded('Inventory', 'RepairInventory').next(guarded('Stage', 'RepairStage')).next(guarded('Repair')).next(restart);
  // The API only starts known kinds; anything else is still recorded as a failed operation.
  const unknownKind = sfn.Pass.jsonPath(root, 'UnknownKind', {
    result: sfn.Result.fromObject({
      Error: 'InvalidRequest',
      Cause: JSON.stringify({ errorType: 'InvalidRequest', errorMessage: 'unknown operation kind' }),
    }),
    resultPath: '$.error',
  }).next(recordFailure);

  const byKind = sfn.Choice.jsonPath(root, 'ByKind')
    .when(sfn.Condition.or(sfn.Condition.stringEquals('$.kind', 'install'), sfn.Condition.stringEquals('$.kind', 'rollback')), install)
    .when(sfn.Condition.stringEquals('$.kind', 'uninstall'), uninstall)
    .when(sfn.Condition.stringEquals('$.kind', 'plan'), plan)
    .when(sfn.Condition.stringEquals('$.kind', 'rollout'), rollout)
    .when(sfn.Condition.stringEquals('$.kind', 'verify'), verify)
    .when(sfn.Condition.stringEquals('$.kind', 'repair'), repair)
    .otherwise(unknownKind);
  return sfn.DefinitionBody.fromChainable(byKind);
}

export const STATE_MACHINE_COMMENT =
  'Molecule plugin delivery: install or rollback (Stage, CheckAllowlist, Deliver) or uninstall (Remove), then Restart, VerifyHealth and Record; or a plan (Stage, CheckAllowlist, Plan); a verify (Inventory); a repair (Inventory, Stage, Repair, then Restart, VerifyHealth and Record)';

export interface SynthesizedDefinition {
  /** The Amazon States Language document, exactly as the stack deploys it (ARNs aside). */
  definition: Record<string, unknown>;
  /** Names of every Task state: each needs a local handler. */
  taskStates: string[];
}

/**
 * Builds the workflow in a throwaway app with placeholder function ARNs (no bundling, no AWS,
 * no network) and returns the resolved ASL the deployed state machine would run.
 */
export function synthesizeDefinition(): SynthesizedDefinition {
  const stack = new Stack(new App(), 'WorkflowDefinition');
  const fns = Object.fromEntries(
    STEP_NAMES.map((name) => [name, lambda.Function.fromFunctionArn(stack, `${name}Fn`, `${PLACEHOLDER_ARN_PREFIX}${name}`)]),
  ) as Record<StepName, lambda.IFunction>;
  const machine = new sfn.StateMachine(stack, 'Workflow', {
    definitionBody: buildWorkflow(stack, 'Steps', fns),
    stateMachineType: sfn.StateMachineType.STANDARD,
    comment: STATE_MACHINE_COMMENT,
  });
  const cfn = machine.node.defaultChild as sfn.CfnStateMachine;
  const definition = JSON.parse(flattenJoin(stack.resolve(cfn.definitionString))) as Record<string, unknown>;
  const states = definition.States as Record<string, { Type: string }>;
  const taskStates = Object.entries(states)
    .filter(([, state]) => state.Type === 'Task')
    .map(([name]) => name);
  return { definition, taskStates };
}

/** With literal ARNs CDK emits a plain string; a `Fn::Join` of literals is flattened just in case. */
function flattenJoin(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] } | null)?.['Fn::Join'];
  if (join?.[1].every((part): part is string => typeof part === 'string')) return join[1].join(join[0]);
  throw new Error(`the workflow definition still contains unresolved references: ${JSON.stringify(value)}`);
}
