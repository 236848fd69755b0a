import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE } from '../../lambdas/shared/metrics.js';

export interface OpsMonitoringProps {
  stateMachine: sfn.IStateMachine;
  /** Every function of the service: each gets an Errors and a Throttles alarm and a concurrency line. */
  functions: lambda.IFunction[];
  httpApi: apigw.IHttpApi;
  /** Subscribed to the alarm topic when set (context `alarmEmail`); it must confirm the subscription. */
  alarmEmail?: string;
  /**
   * 5xx answers per 5 minutes that raise the alarm. Some 5xx are documented outcomes (a stopped
   * host is 503 `workspace_unreachable` under `Prefer: wait`), so one is not an incident.
   */
  api5xxThreshold?: number;
  /**
   * p99 latency that raises the alarm. `Prefer: wait` holds a request up to 25 s by design, so the
   * default sits just above it: beyond, requests are running into API Gateway's 30 s limit.
   */
  apiP99Latency?: Duration;
  /**
   * Drifted workspaces (SPEC §12: a plugin not as recorded, or debris, at their latest verify) that
   * raise the alarm; default 1: any host that differs from the records is worth a look.
   */
  driftedWorkspacesThreshold?: number;
}

/**
 * Issue #9 item 4: alarms on everything an on-call engineer is paged for, into one SNS topic
 * (KMS-encrypted, TLS only, optional email), and one dashboard that says how installs are going.
 */
export class OpsMonitoring extends Construct {
  readonly topic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: OpsMonitoringProps) {
    super(scope, id);
    const key = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the ops alarm topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // CloudWatch publishes alarm notifications into the encrypted topic.
    key.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'Molecule plugin delivery alarms', masterKey: key, enforceSSL: true });
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    const notify = new actions.SnsAction(this.topic);

    const alarm = (alarmId: string, metric: cloudwatch.Metric, description: string, options: Partial<cloudwatch.CreateAlarmOptions> = {}) => {
      const created = metric.createAlarm(this, alarmId, {
        alarmDescription: description,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...options,
      });
      created.addAlarmAction(notify);
      created.addOkAction(notify);
      this.alarms.push(created);
      return created;
    };
    const fiveMinutes = { period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM };

    const machine = props.stateMachine;
    alarm(
      'ExecutionsFailed',
      machine.metricFailed(fiveMinutes),
      'Delivery executions failed (a step error not caught into RecordFailure, or RecordFailure itself)',
    );
    alarm('ExecutionsTimedOut', machine.metricTimedOut(fiveMinutes), 'Delivery executions hit the state machine timeout');
    alarm('ExecutionsAborted', machine.metricAborted(fiveMinutes), 'Delivery executions were aborted');
    alarm('ExecutionsThrottled', machine.metricThrottled(fiveMinutes), 'Step Functions throttled delivery executions');

    for (const fn of props.functions) {
      const name = fn.node.id;
      alarm(`${name}Errors`, fn.metricErrors(fiveMinutes), `${name} invocations failed (unhandled errors, timeouts)`);
      alarm(`${name}Throttles`, fn.metricThrottles(fiveMinutes), `${name} invocations were throttled`);
    }

    const api = props.httpApi;
    alarm('Api5xx', api.metricServerError(fiveMinutes), 'The HTTP API answered 5xx more than the documented outcomes explain', {
      threshold: props.api5xxThreshold ?? 5,
    });
    alarm(
      'ApiLatencyP99',
      api.metricLatency({ period: Duration.minutes(5), statistic: cloudwatch.Stats.p(99) }),
      'HTTP API p99 latency is near the 30 s limit',
      {
        threshold: (props.apiP99Latency ?? Duration.seconds(26)).toMilliseconds(),
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
      },
    );

    const overdue = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: METRIC.OperationsOverdue,
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.minutes(15),
    });
    alarm('OperationsOverdue', overdue, 'Operations are still RUNNING past their deadline: the reconciler could not close them');
    const rolloutMetric = (metricName: string) =>
      new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5) });
    alarm(
      'RolloutStopped',
      rolloutMetric(METRIC.RolloutsStopped),
      'A fleet rollout stopped on errors (or a failed canary): its pending workspaces wait for resume or rollback',
    );
    alarm(
      'RolloutOverdue',
      rolloutMetric(METRIC.RolloutsOverdue),
      'A fleet rollout is running longer than its expected duration: look at its installs in flight',
    );

    // Published by every cleanup run's drift sweep (every 15 minutes): the latest count is the state.
    const drifted = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: METRIC.DriftedWorkspaces,
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.minutes(30),
    });
    alarm(
      'DriftedWorkspaces',
      drifted,
      'Workspaces whose hosts differ from the records (edited, missing or unknown plugins, or debris): verify one, then repair (docs/operations.md)',
      { threshold: props.driftedWorkspacesThreshold ?? 1 },
    );

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Installs and uninstalls per minute, by outcome',
            width: 12,
            left: [
              search(METRIC.InstallsStarted, 'Sum', 'started'),
              search(METRIC.UninstallsStarted, 'Sum', 'uninstalls started'),
              search(METRIC.OperationsSucceeded, 'Sum', 'succeeded'),
              total(METRIC.OperationsFailed, 'failed'),
            ],
          }),
          new cloudwatch.GraphWidget({
            title: 'Failures by error code (per 5 minutes)',
            width: 12,
            left: [search(METRIC.OperationsFailed, 'Sum', 'failed', Duration.minutes(5))],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Step duration p50 / p99 (ms)',
            width: 12,
            left: [search(METRIC.StepDuration, 'p50', 'p50', Duration.minutes(5))],
            right: [search(METRIC.StepDuration, 'p99', 'p99', Duration.minutes(5))],
          }),
          new cloudwatch.GraphWidget({
            title: 'Executions',
            width: 12,
            left: [
              machine.metricStarted(fiveMinutes),
              machine.metricSucceeded(fiveMinutes),
              machine.metricFailed(fiveMinutes),
              machine.metricTimedOut(fiveMinutes),
              machine.metricAborted(fiveMinutes),
              machine.metricThrottled(fiveMinutes),
            ],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'API latency p50 / p99 (ms)',
            width: 12,
            left: [
              api.metricLatency({ period: Duration.minutes(1), statistic: cloudwatch.Stats.p(50), label: 'p50' }),
              api.metricLatency({ period: Duration.minutes(1), statistic: cloudwatch.Stats.p(99), label: 'p99' }),
            ],
          }),
          new cloudwatch.GraphWidget({
            title: 'API answers: 4xx and 5xx per minute',
            width: 12,
            left: [
              api.metricClientError({ period: Duration.minutes(1), statistic: cloudwatch.Stats.SUM, label: '4xx' }),
              api.metricServerError({ period: Duration.minutes(1), statistic: cloudwatch.Stats.SUM, label: '5xx' }),
            ],
            right: [api.metricCount({ period: Duration.minutes(1), statistic: cloudwatch.Stats.SUM, label: 'requests' })],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Lambda concurrency (max per minute)',
            width: 12,
            left: props.functions.map((fn) =>
              fn.metric('ConcurrentExecutions', { period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM, label: fn.node.id }),
            ),
          }),
          new cloudwatch.GraphWidget({
            title: 'Staged plugin size (bytes, p99), overdue operations and drifted workspaces',
            width: 12,
            left: [search(METRIC.StagingBytes, 'p99', 'staged bytes p99', Duration.minutes(5))],
            right: [overdue, drifted],
          }),
        ],
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 24, alarms: this.alarms })],
      ],
    });
  }
}

/**
 * Every series of one of our metrics, whatever its dimensions (`errorCode`, `step`, `kind` beside
 * Powertools' `service`): one line per dimension value.
 */
function search(metricName: string, statistic: string, label: string, period = Duration.minutes(1)): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({
    expression: `SEARCH('Namespace="${METRICS_NAMESPACE}" MetricName="${metricName}"', '${statistic}', ${period.toSeconds()})`,
    usingMetrics: {},
    label,
    period,
  });
}

/** All series of a count metric added up into one line. */
function total(metricName: string, label: string): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({
    expression: `SUM(SEARCH('Namespace="${METRICS_NAMESPACE}" MetricName="${metricName}"', 'Sum', 60))`,
    usingMetrics: {},
    label,
    period: Duration.minutes(1),
  });
}
