import { INSTANCE_ID_RE } from '../lambdas/shared/types.js';
import { AwsApiError, epochSeconds, type AwsBody, type AwsOperation } from './aws-json-server.js';
import type { Faults } from './faults.js';
import { knownInstanceIds } from './host-process.js';
import type { Command, CommandRunner, Invocation } from './ssm-runner.js';

/**
 * The SSM operations the service calls (AWS JSON 1.1), over the command runner: SendCommand with
 * `AWS-RunShellScript`, GetCommandInvocation, CancelCommand and DescribeInstanceInformation.
 */
export interface SsmOperationsOptions {
  runner: CommandRunner;
  /** Holds one directory per instance. */
  rootDir: string;
  isRunning: (instanceId: string) => boolean;
  faults: Faults;
  /** How long a `ssm.lost_invocation` invocation stays invisible after SendCommand. */
  lostInvocationMs: number;
  now: () => number;
}

export function ssmOperations({ runner, rootDir, isRunning, faults, lostInvocationMs, now }: SsmOperationsOptions): Record<string, AwsOperation> {
  const managed = (id: string) => !faults.unknownInstance('ssm', id);

  return {
    SendCommand(input) {
      const documentName = stringField(input, 'DocumentName');
      if (documentName !== 'AWS-RunShellScript') throw new AwsApiError('InvalidDocument', `document ${documentName} is not supported here`);
      const instanceIds = input.InstanceIds;
      if (!Array.isArray(instanceIds) || instanceIds.length === 0) {
        throw new AwsApiError('InvalidParameters', 'InstanceIds is required (Targets are not emulated)');
      }
      for (const id of instanceIds) {
        if (typeof id !== 'string' || !INSTANCE_ID_RE.test(id) || !managed(id)) {
          throw new AwsApiError('InvalidInstanceId', 'Instances not in a valid state for account');
        }
      }
      const parameters = (input.Parameters ?? {}) as Record<string, unknown>;
      const lines = parameters.commands;
      if (!Array.isArray(lines) || lines.length === 0 || !lines.every((line) => typeof line === 'string')) {
        throw new AwsApiError('InvalidParameters', 'Parameters.commands must be a non-empty list of strings');
      }
      const executionTimeout = parameters.executionTimeout;
      if (executionTimeout !== undefined && !(Array.isArray(executionTimeout) && /^\d+$/.test(String(executionTimeout[0])))) {
        throw new AwsApiError('InvalidParameters', 'Parameters.executionTimeout must be a number of seconds');
      }
      const command = runner.send({
        documentName,
        comment: typeof input.Comment === 'string' ? input.Comment : '',
        parameters: parameters as Record<string, string[]>,
        timeoutSeconds: typeof input.TimeoutSeconds === 'number' ? input.TimeoutSeconds : 3600,
        targets: (instanceIds as string[]).map((instanceId) => ({
          instanceId,
          delivered: isRunning(instanceId),
          ...(faults.roll('ssm', 'lost_invocation') && { hiddenUntil: now() + lostInvocationMs }),
        })),
      });
      return { Command: describeCommand(command) };
    },

    GetCommandInvocation(input) {
      const command = runner.get(stringField(input, 'CommandId'));
      const invocation = command?.invocations.get(stringField(input, 'InstanceId'));
      if (!command || !invocation || (invocation.hiddenUntil ?? 0) > now()) {
        throw new AwsApiError('InvocationDoesNotExist', 'The command ID and instance ID you specified did not match any invocations.');
      }
      const finished = !!invocation.endedAt;
      return {
        CommandId: command.commandId,
        InstanceId: invocation.instanceId,
        Comment: command.comment,
        DocumentName: command.documentName,
        DocumentVersion: '$DEFAULT',
        PluginName: 'aws:runShellScript',
        ResponseCode: invocation.responseCode,
        ExecutionStartDateTime: invocation.startedAt?.toISOString() ?? '',
        ExecutionElapsedTime: elapsed(invocation),
        ExecutionEndDateTime: invocation.endedAt?.toISOString() ?? '',
        Status: invocation.status,
        StatusDetails: invocation.statusDetails,
        StandardOutputContent: finished ? invocation.stdout : '',
        StandardOutputUrl: '',
        StandardErrorContent: finished ? invocation.stderr : '',
        StandardErrorUrl: '',
        CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
      };
    },

    CancelCommand(input) {
      const command = runner.get(stringField(input, 'CommandId'));
      if (!command) throw new AwsApiError('InvalidCommandId', 'The specified command ID is not valid.');
      runner.cancel(command, Array.isArray(input.InstanceIds) ? (input.InstanceIds as string[]) : [...command.invocations.keys()]);
      return {};
    },

    DescribeInstanceInformation(input) {
      const { ids, pingStatuses } = instanceFilters(input);
      const at = epochSeconds(new Date(now()));
      const list = (ids ?? knownInstanceIds(rootDir))
        .filter((id) => INSTANCE_ID_RE.test(id) && managed(id))
        .map((id) => ({
          InstanceId: id,
          PingStatus: isRunning(id) ? 'Online' : 'ConnectionLost',
          LastPingDateTime: at,
          AgentVersion: '3.3.0.0',
          IsLatestVersion: true,
          PlatformType: 'Linux',
          PlatformName: 'Molecule local instance',
          PlatformVersion: '1',
          ResourceType: 'EC2Instance',
          ComputerName: id,
        }))
        .filter((info) => !pingStatuses || pingStatuses.includes(info.PingStatus));
      return { InstanceInformationList: list };
    },
  };
}

/** `ssm.throttle` and `ssm.error` as SSM sends them. */
export function ssmFault(faults: Faults): AwsApiError | undefined {
  if (faults.roll('ssm', 'throttle')) return new AwsApiError('ThrottlingException', 'Rate exceeded');
  if (faults.roll('ssm', 'error')) return new AwsApiError('InternalServerError', 'An error occurred on the server side.', 500);
  return undefined;
}

function instanceFilters(input: AwsBody): { ids?: string[]; pingStatuses?: string[] } {
  const result: { ids?: string[]; pingStatuses?: string[] } = {};
  const add = (key: unknown, values: unknown) => {
    if (!Array.isArray(values)) return;
    const list = values.map(String);
    if (key === 'InstanceIds' || key === 'instanceIds') result.ids = list;
    else if (key === 'PingStatus') result.pingStatuses = list;
    else throw new AwsApiError('InvalidFilterKey', `filter key ${String(key)} is not emulated`);
  };
  for (const filter of asList(input.Filters)) add(filter.Key, filter.Values);
  for (const filter of asList(input.InstanceInformationFilterList)) add(filter.key, filter.valueSet);
  return result;
}

function asList(value: unknown): AwsBody[] {
  return Array.isArray(value) ? (value as AwsBody[]) : [];
}

function stringField(input: AwsBody, key: string): string {
  const value = input[key];
  if (typeof value !== 'string' || !value) throw new AwsApiError('ValidationException', `${key} is required`);
  return value;
}

function describeCommand(command: Command) {
  return {
    CommandId: command.commandId,
    DocumentName: command.documentName,
    DocumentVersion: '$DEFAULT',
    Comment: command.comment,
    Parameters: command.parameters,
    InstanceIds: [...command.invocations.keys()],
    RequestedDateTime: epochSeconds(command.requestedAt),
    ExpiresAfter: epochSeconds(new Date(command.requestedAt.getTime() + command.timeoutSeconds * 1000)),
    Status: 'Pending',
    StatusDetails: 'Pending',
    TargetCount: command.invocations.size,
    CompletedCount: 0,
    ErrorCount: 0,
    DeliveryTimedOutCount: 0,
    TimeoutSeconds: command.timeoutSeconds,
  };
}

function elapsed(invocation: Invocation): string {
  if (!invocation.startedAt) return '';
  const ms = (invocation.endedAt ?? new Date()).getTime() - invocation.startedAt.getTime();
  return `PT${(ms / 1000).toFixed(3)}S`;
}
