import { App, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { METRIC, METRICS_NAMESPACE } from '../../../lambdas/shared/metrics.js';
import { PluginDeliveryStack } from '../../../infra/stack.js';

/** Issue #9 item 4 pinned on the synthesized stack: the alarms, where they notify, and the dashboard's metrics. */
type Resource = { Properties: Record<string, any> };

function synth(props: ConstructorParameters<typeof PluginDeliveryStack>[2] = {}): { template: Template; stack: Stack } {
  const stack = new PluginDeliveryStack(new App(), 'Ops', {
    bundle: false,
    env: { account: '123456789012', region: 'eu-west-1' },
    databaseSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:molecule-db-AbCdEf',
    ...props,
  });
  return { template: Template.fromStack(stack), stack };
}

let template: Template;
let alarms: Resource[];
let topicId: string;
beforeAll(() => {
  template = synth().template;
  alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Resource[];
  topicId = Object.keys(template.findResources('AWS::SNS::Topic'))[0]!;
});

const alarmsOn = (namespace: string, metricName: string) =>
  alarms.filter((a) => a.Properties.Namespace === namespace && a.Properties.MetricName === metricName);
const ownFunctionIds = () =>
  Object.entries(template.findResources('AWS::Lambda::Function') as Record<string, Resource>)
    .filter(([, fn]) => fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === 'molecule-plugin-delivery')
    .map(([id]) => id);

describe('alarms', () => {
  it('pages on delivery executions that failed, timed out, were aborted or throttled', () => {
    const machineId = Object.keys(template.findResources('AWS::StepFunctions::StateMachine'))[0]!;
    for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted', 'ExecutionThrottled']) {
      const found = alarmsOn('AWS/States', metric);
      expect(found, metric).toHaveLength(1);
      expect(found[0]!.Properties).toMatchObject({
        Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: machineId } }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it("pages on every function's errors and throttles", () => {
    const functions = ownFunctionIds();
    expect(functions.length).toBeGreaterThanOrEqual(10);
    for (const metric of ['Errors', 'Throttles']) {
      const watched = alarmsOn('AWS/Lambda', metric).map((a) => a.Properties.Dimensions[0].Value.Ref);
      expect(watched.sort(), metric).toEqual([...functions].sort());
    }
  });

  it('pages on API 5xx beyond the documented ones and on p99 latency near the 30 s limit', () => {
    const apiId = Object.keys(template.findResources('AWS::ApiGatewayV2::Api'))[0]!;
    const [fivexx] = alarmsOn('AWS/ApiGateway', '5xx');
    expect(fivexx!.Properties).toMatchObject({ Dimensions: [{ Name: 'ApiId', Value: { Ref: apiId } }], Statistic: 'Sum', Threshold: 5 });
    const [latency] = alarmsOn('AWS/ApiGateway', 'Latency');
    expect(latency!.Properties).toMatchObject({ ExtendedStatistic: 'p99', Threshold: 26_000, EvaluationPeriods: 3, DatapointsToAlarm: 2 });
  });

  it('pages on operations still in flight past their deadline, from the metric the Reconcile function publishes', () => {
    const [overdue] = alarmsOn(METRICS_NAMESPACE, METRIC.OperationsOverdue);
    expect(overdue!.Properties).toMatchObject({
      Statistic: 'Maximum',
      Period: 900,
      Threshold: 1,
    });
    // The Lambdas publish it without dimensions (lambdas/shared/metrics.ts): an alarm on a dimension would never see data.
    expect(overdue!.Properties.Dimensions).toBeUndefined();
  });

  it('pages on drifted workspaces, from the metric every cleanup run’s drift sweep publishes', () => {
    const [drifted] = alarmsOn(METRICS_NAMESPACE, METRIC.DriftedWorkspaces);
    expect(drifted!.Properties).toMatchObject({ Statistic: 'Maximum', Period: 1800, Threshold: 1, TreatMissingData: 'notBreaching' });
    expect(drifted!.Properties.Dimensions).toBeUndefined();
    expect(alarmsOn(METRICS_NAMESPACE, METRIC.DriftedWorkspaces)).toHaveLength(1);
  });

  it('sends every alarm, and its recovery, to the alarm topic', () => {
    expect(alarms.length).toBeGreaterThan(20);
    for (const a of alarms) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(a.Properties.OKActions).toEqual([{ Ref: topicId }]);
      expect(a.Properties.AlarmDescription).toEqual(expect.any(String));
    }
  });
});

describe('the alarm topic', () => {
  it('is encrypted with a rotated customer key CloudWatch may use, and refuses plain HTTP', () => {
    const topic = template.findResources('AWS::SNS::Topic')[topicId] as Resource;
    const keyId = topic.Properties.KmsMasterKeyId['Fn::GetAtt'][0];
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: Match.arrayWith(['kms:Decrypt', 'kms:GenerateDataKey*']) }),
        ]),
      }),
    });
    expect(template.findResources('AWS::KMS::Key')[keyId]).toBeDefined();
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      }),
    });
  });

  it('has an email subscription only when context alarmEmail is given', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    const withEmail = synth({ alarmEmail: 'oncall@example.com' }).template;
    withEmail.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
  });
});

describe('the dashboard', () => {
  let body: string;
  beforeAll(() => {
    const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0] as Resource;
    // The body is a Fn::Join of literal JSON and references (ARNs, ids); the literal parts are what we read.
    body = (dashboard.Properties.DashboardBody['Fn::Join'][1] as unknown[]).map((part) => (typeof part === 'string' ? part : 'REF')).join('');
  });
  const widget = (title: string) => {
    const widgets = (JSON.parse(body) as { widgets: Array<{ properties: { title?: string; metrics?: unknown[] } }> }).widgets;
    const found = widgets.find((w) => w.properties.title === title);
    if (!found) throw new Error(`no widget "${title}" among ${widgets.map((w) => w.properties.title).join(', ')}`);
    return JSON.stringify(found.properties);
  };
  const searchOf = (metric: string, stat: string) => `SEARCH('Namespace=\\"${METRICS_NAMESPACE}\\" MetricName=\\"${metric}\\"', '${stat}'`;

  it('shows installs per minute by outcome', () => {
    const w = widget('Installs and uninstalls per minute, by outcome');
    for (const metric of [METRIC.InstallsStarted, METRIC.UninstallsStarted, METRIC.OperationsSucceeded, METRIC.OperationsFailed]) {
      expect(w).toContain(searchOf(metric, 'Sum'));
    }
    expect(w).toContain(', 60)');
  });

  it('shows failures by error code and step durations p50/p99', () => {
    expect(widget('Failures by error code (per 5 minutes)')).toContain(searchOf(METRIC.OperationsFailed, 'Sum'));
    const steps = widget('Step duration p50 / p99 (ms)');
    expect(steps).toContain(searchOf(METRIC.StepDuration, 'p50'));
    expect(steps).toContain(searchOf(METRIC.StepDuration, 'p99'));
  });

  it('shows API latency, 4xx and 5xx, and every function’s concurrency', () => {
    const latency = widget('API latency p50 / p99 (ms)');
    expect(latency).toContain('"AWS/ApiGateway","Latency"');
    expect(latency).toContain('"stat":"p50"');
    expect(latency).toContain('"stat":"p99"');
    const answers = widget('API answers: 4xx and 5xx per minute');
    expect(answers).toContain('"AWS/ApiGateway","4xx"');
    expect(answers).toContain('"AWS/ApiGateway","5xx"');
    const concurrency = widget('Lambda concurrency (max per minute)');
    expect(concurrency.match(/"AWS\/Lambda","ConcurrentExecutions"/g)).toHaveLength(ownFunctionIds().length);
  });
});
