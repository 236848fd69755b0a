import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSTANCE_ID_RE } from '../lambdas/shared/types.js';
import { AwsApiError, epochSeconds, startAwsJsonServer, type AwsBody } from './aws-json-server.js';
import { killGroup, knownInstanceIds, spawnOnHost, stopHostProcess } from './host-process.js';

/**
 * Enough of the SSM API (AWS JSON 1.1) for the real `SSMClient`: SendCommand with
 * `AWS-RunShellScript`, GetCommandInvocation, ListCommandInvocations, CancelCommand and
 * DescribeInstanceInformation. Each emulated instance's root filesystem is
 * `<rootDir>/<instanceId>/`, created on first use; commands run there as the current user with
 * `MOLECULE_HOST_ROOT` pointing at it (host-process.ts). Like the real agent, commands run with `sh`.
 */
export interface SsmEmulatorOptions {
  /** Holds one directory per instance: `${MOLECULE_LOCAL_DIR}/instances` in the local stack. */
  rootDir: string;
  port?: number;
  /** A stopped instance is not Online and its commands are Undeliverable. Default: all running. */
  isRunning?: (instanceId: string) => boolean;
}

export interface SsmEmulator {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** SSM's own limits on what GetCommandInvocation returns. */
const STDOUT_LIMIT = 24_000;
const STDERR_LIMIT = 8_000;
const LIST_OUTPUT_LIMIT = 2_500;
const MAX_KEPT_COMMANDS = 500;

interface Invocation {
  instanceId: string;
  status: string;
  statusDetails: string;
  responseCode: number;
  stdout: string;
  stderr: string;
  startedAt?: Date;
  endedAt?: Date;
  child?: ChildProcess;
  stopReason?: 'timeout' | 'cancel';
}

interface Command {
  commandId: string;
  requestedAt: Date;
  comment: string;
  documentName: string;
  parameters: Record<string, string[]>;
  timeoutSeconds: number;
  invocations: Map<string, Invocation>;
}


export async function startSsmEmulator({ rootDir, port = 0, isRunning = () => true }: SsmEmulatorOptions): Promise<SsmEmulator> {
  const scriptDir = await mkdtemp(join(tmpdir(), 'molecule-ssm-'));
  const commands = new Map<string, Command>();

  const instanceRoot = (instanceId: string) => join(rootDir, instanceId);


  function forget(): void {
    for (const [id, command] of commands) {
      if (commands.size <= MAX_KEPT_COMMANDS) return;
      if ([...command.invocations.values()].every((inv) => !inv.child)) commands.delete(id);
    }
  }

  function execute(command: Command, invocation: Invocation): void {
    const root = instanceRoot(invocation.instanceId);
    const script = (command.parameters.commands ?? []).join('\n');
    const timeoutSeconds = Number(command.parameters.executionTimeout?.[0] ?? 3600);
    const scriptPath = join(scriptDir, `${command.commandId}-${invocation.instanceId}.sh`);

    const run = async () => {
      await writeFile(scriptPath, script, { mode: 0o700 });
      const child = spawnOnHost({
        root,
        command: 'sh',
        args: [scriptPath],
        stdin: 'ignore',
        env: { AWS_SSM_INSTANCE_ID: invocation.instanceId, AWS_SSM_REGION_NAME: 'us-east-1' },
      });
      invocation.child = child;
      invocation.status = invocation.statusDetails = 'InProgress';
      invocation.startedAt = new Date();
      const stdout = capture(child.stdout, STDOUT_LIMIT);
      const stderr = capture(child.stderr, STDERR_LIMIT);
      const timer = setTimeout(() => stop(invocation, 'timeout'), timeoutSeconds * 1000);
      child.on('close', (code) => {
        clearTimeout(timer);
        invocation.child = undefined;
        invocation.endedAt = new Date();
        invocation.stdout = stdout();
        invocation.stderr = stderr();
        invocation.responseCode = code ?? -1;
        if (invocation.stopReason === 'timeout') {
          invocation.status = 'TimedOut';
          invocation.statusDetails = 'ExecutionTimedOut';
        } else if (invocation.stopReason === 'cancel') {
          invocation.status = invocation.statusDetails = 'Cancelled';
        } else {
          invocation.status = invocation.statusDetails = code === 0 ? 'Success' : 'Failed';
        }
        void rm(scriptPath, { force: true });
      });
    };
    run().catch((err: unknown) => {
      invocation.status = invocation.statusDetails = 'Failed';
      invocation.stderr = `emulator could not start the command: ${(err as Error).message}`.slice(0, STDERR_LIMIT);
      invocation.endedAt = new Date();
    });
  }

  function stop(invocation: Invocation, reason: 'timeout' | 'cancel'): void {
    if (!invocation.child?.pid) return;
    invocation.stopReason = reason;
    invocation.status = invocation.statusDetails = reason === 'cancel' ? 'Cancelling' : invocation.status;
    stopHostProcess(invocation.child);
  }

  const operations: Record<string, (input: AwsBody) => AwsBody> = {
    SendCommand(input) {
      const documentName = stringField(input, 'DocumentName');
      if (documentName !== 'AWS-RunShellScript') throw new AwsApiError('InvalidDocument', `document ${documentName} is not supported here`);
      const instanceIds = input.InstanceIds;
      if (!Array.isArray(instanceIds) || instanceIds.length === 0) {
        throw new AwsApiError('InvalidParameters', 'InstanceIds is required (Targets are not emulated)');
      }
      for (const id of instanceIds) {
        if (typeof id !== 'string' || !INSTANCE_ID_RE.test(id)) throw new AwsApiError('InvalidInstanceId', 'Instances not in a valid state for account');
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
      const command: Command = {
        commandId: randomUUID(),
        requestedAt: new Date(),
        comment: typeof input.Comment === 'string' ? input.Comment : '',
        documentName,
        parameters: parameters as Record<string, string[]>,
        timeoutSeconds: typeof input.TimeoutSeconds === 'number' ? input.TimeoutSeconds : 3600,
        invocations: new Map(),
      };
      for (const instanceId of instanceIds as string[]) {
        const delivered = isRunning(instanceId);
        const invocation: Invocation = {
          instanceId,
          status: delivered ? 'Pending' : 'Failed',
          statusDetails: delivered ? 'Pending' : 'Undeliverable',
          responseCode: -1,
          stdout: '',
          stderr: '',
        };
        command.invocations.set(instanceId, invocation);
        if (delivered) execute(command, invocation);
      }
      commands.set(command.commandId, command);
      forget();
      return { Command: describeCommand(command) };
    },

    GetCommandInvocation(input) {
      const command = commands.get(stringField(input, 'CommandId'));
      const invocation = command?.invocations.get(stringField(input, 'InstanceId'));
      if (!command || !invocation) throw new AwsApiError('InvocationDoesNotExist', 'The command ID and instance ID you specified did not match any invocations.');
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

    ListCommandInvocations(input) {
      const commandId = typeof input.CommandId === 'string' ? input.CommandId : undefined;
      const instanceId = typeof input.InstanceId === 'string' ? input.InstanceId : undefined;
      const details = input.Details === true;
      const maxResults = typeof input.MaxResults === 'number' ? input.MaxResults : 50;
      const offset = typeof input.NextToken === 'string' ? Number(input.NextToken) || 0 : 0;
      const all = [...commands.values()]
        .filter((command) => !commandId || command.commandId === commandId)
        .reverse()
        .flatMap((command) =>
          [...command.invocations.values()]
            .filter((inv) => !instanceId || inv.instanceId === instanceId)
            .map((inv) => ({
              CommandId: command.commandId,
              InstanceId: inv.instanceId,
              InstanceName: '',
              Comment: command.comment,
              DocumentName: command.documentName,
              DocumentVersion: '$DEFAULT',
              RequestedDateTime: epochSeconds(command.requestedAt),
              Status: inv.status,
              StatusDetails: inv.statusDetails,
              StandardOutputUrl: '',
              StandardErrorUrl: '',
              CommandPlugins: details
                ? [
                    {
                      Name: 'aws:runShellScript',
                      Status: inv.status,
                      StatusDetails: inv.statusDetails,
                      ResponseCode: inv.responseCode,
                      ResponseStartDateTime: inv.startedAt ? epochSeconds(inv.startedAt) : undefined,
                      ResponseFinishDateTime: inv.endedAt ? epochSeconds(inv.endedAt) : undefined,
                      Output: (inv.stdout + inv.stderr).slice(0, LIST_OUTPUT_LIMIT),
                    },
                  ]
                : [],
            })),
        );
      const page = all.slice(offset, offset + maxResults);
      const next = offset + maxResults < all.length ? String(offset + maxResults) : undefined;
      return { CommandInvocations: page, ...(next ? { NextToken: next } : {}) };
    },

    CancelCommand(input) {
      const command = commands.get(stringField(input, 'CommandId'));
      if (!command) throw new AwsApiError('InvalidCommandId', 'The specified command ID is not valid.');
      const ids = Array.isArray(input.InstanceIds) ? (input.InstanceIds as string[]) : [...command.invocations.keys()];
      for (const id of ids) {
        const invocation = command.invocations.get(id);
        if (invocation) stop(invocation, 'cancel');
      }
      return {};
    },

    DescribeInstanceInformation(input) {
      const { ids, pingStatuses } = instanceFilters(input);
      const now = epochSeconds(new Date());
      const list = (ids ?? knownInstanceIds(rootDir))
        .filter((id) => INSTANCE_ID_RE.test(id))
        .map((id) => ({
          InstanceId: id,
          PingStatus: isRunning(id) ? 'Online' : 'ConnectionLost',
          LastPingDateTime: now,
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

  const server = await startAwsJsonServer({ targetPrefix: 'AmazonSSM', contentType: 'application/x-amz-json-1.1', operations, port });

  return {
    url: server.url,
    port: server.port,
    async close() {
      for (const command of commands.values()) {
        for (const invocation of command.invocations.values()) {
          if (invocation.child?.pid) killGroup(invocation.child.pid, 'SIGKILL');
        }
      }
      await server.close();
      await rm(scriptDir, { recursive: true, force: true });
    },
  };
}

/** Keeps the first `limit` characters of a stream, as SSM does, without holding the rest. */
function capture(stream: NodeJS.ReadableStream | null, limit: number): () => string {
  const chunks: Buffer[] = [];
  let bytes = 0;
  // Four bytes per character is the UTF-8 worst case, so this always covers `limit` characters.
  const byteLimit = limit * 4;
  stream?.on('data', (chunk: Buffer) => {
    if (bytes >= byteLimit) return;
    chunks.push(chunk);
    bytes += chunk.length;
  });
  return () => Buffer.concat(chunks).toString('utf8').slice(0, limit);
}

function instanceFilters(input: Record<string, unknown>): { ids?: string[]; pingStatuses?: string[] } {
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

function asList(value: unknown): Array<Record<string, unknown>> {
  return Array.isArray(value) ? (value as Array<Record<string, unknown>>) : [];
}

function stringField(input: Record<string, unknown>, key: string): string {
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
