import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { buildWorkflow, STATE_MACHINE_COMMENT, type StepName } from '../workflow.js';

/**
 * No execution runs forever (issue #7): past this it ends TIMED_OUT, and the reconciler closes
 * its operation. Far above any legitimate run (steps, retries, a lease wait of PLUGIN_LEASE_TTL).
 */
export const EXECUTION_TIMEOUT = Duration.hours(1);

/** The Standard state machine running `buildWorkflow`, with full execution logging and tracing. */
export class DeliveryWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;
  /**
   * The machine's ARN built from its name, for a function the machine itself invokes (the rollout
   * driver starts executions of it): a reference to the machine from such a function is a cycle.
   */
  readonly stateMachineArnByName: string;

  constructor(scope: Construct, id: string, steps: Record<StepName, lambda.IFunction>) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'ExecutionLogs', {
      // The /aws/vendedlogs/ prefix keeps CloudWatch's resource policy small for Step Functions.
      logGroupName: `/aws/vendedlogs/states/${this.node.addr}`,
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const stateMachineName = `${Stack.of(this).stackName}-delivery`;
    this.stateMachineArnByName = Stack.of(this).formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: buildWorkflow(this, 'Steps', steps),
      comment: STATE_MACHINE_COMMENT,
      timeout: EXECUTION_TIMEOUT,
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });
  }
}
