/**
 * The CloudWatch metrics the service emits (Powertools Metrics, embedded metric format). The
 * dashboard and alarms in infra/ import these names, so the two never drift apart.
 */
export const METRICS_NAMESPACE = 'MoleculePluginDelivery';

export const METRIC = {
  /** Count; emitted by the API when an install execution is started. */
  InstallsStarted: 'InstallsStarted',
  /** Count; emitted by the API when an uninstall execution is started. */
  UninstallsStarted: 'UninstallsStarted',
  /** Count; emitted by Record when an operation succeeds (dimension `kind`). */
  OperationsSucceeded: 'OperationsSucceeded',
  /** Count; emitted by RecordFailure, dimension `errorCode`. */
  OperationsFailed: 'OperationsFailed',
  /** Milliseconds; one per finished step, dimension `step`. */
  StepDuration: 'StepDuration',
  /** Bytes; the uncompressed size of a plugin Stage wrote to the staging bucket. */
  StagingBytes: 'StagingBytes',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];
