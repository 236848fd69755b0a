import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { PluginDeliveryStack } from '../../../infra/stack.js';

type Resource = { Properties: Record<string, any> };

let template: Template;
let reconcileId = '';
let machineId = '';

beforeAll(() => {
  const stack = new PluginDeliveryStack(new App(), 'Test', {
    bundle: false,
    env: { account: '123456789012', region: 'eu-west-1' },
    databaseSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:molecule-db-AbCdEf',
  });
  template = Template.fromStack(stack);
  const functions = Object.entries(template.findResources('AWS::Lambda::Function') as Record<string, Resource>);
  reconcileId = functions.find(([, fn]) => /without closing them/.test(String(fn.Properties.Description)))?.[0] ?? '';
  machineId = Object.keys(template.findResources('AWS::StepFunctions::StateMachine'))[0] ?? '';
});

const reconcileTarget = () =>
  Match.arrayWith([
    Match.objectLike({
      Arn: { 'Fn::GetAtt': [reconcileId, 'Arn'] },
      DeadLetterConfig: { Arn: Match.anyValue() },
      RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 4 }),
    }),
  ]);

describe('reconciling executions that ended without closing their operation', () => {
  it('gives the state machine a machine-level timeout', () => {
    const machine = template.findResources('AWS::StepFunctions::StateMachine')[machineId] as Resource;
    expect(JSON.stringify(machine.Properties.DefinitionString)).toContain('\\"TimeoutSeconds\\":3600');
  });

  it('invokes the Reconcile function on FAILED, TIMED_OUT and ABORTED status changes of this state machine, with a dead-letter queue', () => {
    expect(reconcileId).not.toBe('');
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [{ Ref: machineId }] },
      },
      Targets: reconcileTarget(),
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });

  it('also sweeps stale operations on the cleanup schedule', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)', Targets: reconcileTarget() });
  });

  it('lets the function describe executions of this state machine, start a lost rollout driver again and reach hosts, nothing more of Step Functions', () => {
    const fn = template.findResources('AWS::Lambda::Function')[reconcileId] as Resource;
    const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
    const statements = Object.values(template.findResources('AWS::IAM::Policy') as Record<string, Resource>)
      .filter((p) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>);
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(['states:DescribeExecution', 'ssm:SendCommand', 'secretsmanager:GetSecretValue']));
    expect(actions.filter((a) => a.startsWith('states:')).sort()).toEqual(['states:DescribeExecution', 'states:StartExecution']);
    expect(fn.Properties.Environment.Variables.STATE_MACHINE_ARN).toEqual({ Ref: machineId });
  });
});
