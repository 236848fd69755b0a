/**
 * The CloudWatch metrics the service emits (Powertools Metrics, embedded metric format). The
 * dashboard and alarms in infra/ import these names, so the two never drift apart. Metrics carry
 * only the dimensions named below (no `service` dimension): a metric without one is graphed as is.
 */
export const METRICS_NAMESPACE = 'MoleculePluginDelivery';

export const METRIC = {
  /** Count; emitted by the API when an install execution is started. */
  InstallsStarted: 'InstallsStarted',
  /** Count; emitted by the API when an uninstall execution is started. */
  UninstallsStarted: 'UninstallsStarted',
  /** Count; emitted by Record when an operation succeeds. */
  OperationsSucceeded: 'OperationsSucceeded',
  /** Count; emitted by RecordFailure twice: without dimensions (all failures) and with dimension `errorCode`. */
  OperationsFailed: 'OperationsFailed',
  /** Milliseconds; one per step attempt that ended (succeeded, skipped or failed), dimension `step`. */
  StepDuration: 'StepDuration',
  /** Bytes; the uncompressed size of a plugin Stage wrote to the staging bucket. */
  StagingBytes: 'StagingBytes',
  /**
   * Count, per reconcile sweep: stale RUNNING operations the reconciler could neither close nor
   * find still running (their execution could not be described), i.e. in flight past any deadline
   * it can enforce. Emitted on every sweep, 0 included, so the alarm sees data.
   */
  OperationsOverdue: 'OperationsOverdue',
  /** Count; a fleet rollout ended STOPPED (its error budget spent, or a canary failed) or FAILED (SPEC §10). */
  RolloutsStopped: 'RolloutsStopped',
  /**
   * Count; emitted by a rollout's driver on each tick while the rollout runs past its expected
   * duration (its remaining waves of installs at each install's bound, twice over).
   */
  RolloutsOverdue: 'RolloutsOverdue',
  /**
   * Count, per cleanup run: live workspaces whose latest verify found drift (SPEC §12: a plugin not
   * as recorded, or debris). Emitted on every run with a drift sweep, 0 included.
   */
  DriftedWorkspaces: 'DriftedWorkspaces',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/**
 * Publishes metrics in CloudWatch's embedded metric format (one JSON line on stdout, which Lambda
 * ships to CloudWatch Logs, where they become metrics). Each call publishes at once, so nothing is
 * lost when an invocation ends and no handler needs wrapping. Off outside Lambda (the local stack
 * and tests) unless `POWERTOOLS_METRICS_DISABLED=false`; on in Lambda unless it is `true`.
 */
export function metricsEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const flag = env.POWERTOOLS_METRICS_DISABLED?.toLowerCase();
  if (flag === 'true' || flag === '1') return false;
  if (flag === 'false' || flag === '0') return true;
  return Boolean(env.AWS_LAMBDA_FUNCTION_NAME);
}

type Unit = 'Count' | 'Milliseconds' | 'Bytes';

const UNITS: Record<MetricName, Unit> = {
  InstallsStarted: 'Count',
  UninstallsStarted: 'Count',
  OperationsSucceeded: 'Count',
  OperationsFailed: 'Count',
  StepDuration: 'Milliseconds',
  StagingBytes: 'Bytes',
  OperationsOverdue: 'Count',
  RolloutsStopped: 'Count',
  RolloutsOverdue: 'Count',
  DriftedWorkspaces: 'Count',
};

/**
 * Emits one metric with its dimensions (besides `service`); never throws: a metric that cannot
 * be written is not worth failing a step for.
 */
export async function emitMetric(
  name: MetricName,
  value: number,
  dimensions: Record<string, string> = {},
  options: { alsoWithoutDimensions?: boolean } = {},
): Promise<void> {
  if (!metricsEnabled()) return;
  try {
    const { Metrics } = await import('@aws-lambda-powertools/metrics');
    const sets = options.alsoWithoutDimensions && Object.keys(dimensions).length > 0 ? [{}, dimensions] : [dimensions];
    for (const set of sets) {
      const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'molecule-plugin-delivery' });
      metrics.clearDefaultDimensions();
      for (const [key, dim] of Object.entries(set)) metrics.addDimension(key, dim || 'none');
      metrics.addMetric(name, UNITS[name], value);
      metrics.publishStoredMetrics();
    }
  } catch {
    // the metric is lost; the logs still say what happened
  }
}
