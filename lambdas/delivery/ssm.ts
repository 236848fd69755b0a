import { setTimeout as sleep } from 'node:timers/promises';
import type { GetCommandInvocationCommandOutput, SSMClient } from '@aws-sdk/client-ssm';
import { DeliveryFailed, WorkspaceUnreachable } from '../shared/errors.js';
import { awsThrottled, isTransientAwsError } from '../shared/aws-faults.js';
import { HostCommandFailed, parseHostResult, sanitizedTail, type HostCommand, type HostCommandResult } from './host-command.js';
import { shellQuote } from './shell.js';

export interface SsmRunOptions extends HostCommand {
  /** First wait between polls; it grows by half each time up to `maxPollIntervalMs`. */
  pollIntervalMs?: number;
  maxPollIntervalMs?: number;
  /** How long past `timeoutMs` to keep waiting for the host's report before giving up. */
  graceMs?: number;
  /** The stack's own Command document (`PLUGIN_SSM_DOCUMENT`); same `commands`/`executionTimeout` parameters. */
  documentName?: string;
}

/** The SDK's commands load with the client (shared/aws.ts), not with this module: a bundle keeps them in the client's chunk. */
const commands = () => import('@aws-sdk/client-ssm');

const DEFAULT_DOCUMENT = 'AWS-RunShellScript';
const DEFAULT_POLL_MS = 1_000;
const DEFAULT_MAX_POLL_MS = 5_000;
const DEFAULT_GRACE_MS = 15_000;
/** SendCommand's `TimeoutSeconds` (time allowed to reach the instance) has this minimum. */
const MIN_DELIVERY_TIMEOUT_SECONDS = 30;

const PENDING = new Set(['Pending', 'InProgress', 'Delayed', 'Cancelling']);
/** StatusDetails meaning the command never reached a running agent. */
const NOT_DELIVERED = new Set(['Undeliverable', 'DeliveryTimedOut', 'Delivery Timed Out']);

/**
 * Runs a host script through SSM Run Command and waits for its outcome. The agent runs
 * `AWS-RunShellScript` commands with `sh`, so the script is handed to bash explicitly.
 * Throws WorkspaceUnreachable when the instance cannot be reached, AwsThrottled when SSM still
 * throttles the command, HostCommandFailed when the script fails or times out and DeliveryFailed
 * when the wait runs past the deadline (the command is cancelled first); messages never carry
 * host output.
 */
export async function runViaSsm(ssm: SSMClient, options: SsmRunOptions): Promise<HostCommandResult> {
  const { instanceId, timeoutMs, signal } = options;
  const executionSeconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  const deadline = Math.min(Date.now() + timeoutMs + (options.graceMs ?? DEFAULT_GRACE_MS), options.deadline ?? Infinity);
  const maxPoll = options.maxPollIntervalMs ?? DEFAULT_MAX_POLL_MS;
  let delay = options.pollIntervalMs ?? DEFAULT_POLL_MS;
  const context = { instanceId, transport: 'ssm' };

  const wait = async (): Promise<boolean> => {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return false;
    // Equal jitter: at least half the interval, so polls from many executions spread out.
    await sleep(Math.min(remaining, delay / 2 + Math.random() * (delay / 2)), undefined, { signal });
    delay = Math.min(maxPoll, delay * 1.5);
    return true;
  };

  const { GetCommandInvocationCommand } = await commands();
  let commandId: string | undefined;
  try {
    commandId = await send(ssm, options, executionSeconds, context);
    const details = { ...context, commandId };
    while (await wait()) {
      let invocation: GetCommandInvocationCommandOutput;
      try {
        invocation = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }), {
          abortSignal: signal,
        });
      } catch (err) {
        // The invocation appears a moment after SendCommand returns; a throttled poll is one skipped.
        if (errorName(err) === 'InvocationDoesNotExist' || isTransientAwsError(err)) continue;
        throw asDeliveryFailed(err, 'could not read the delivery command status', details);
      }
      const outcome = settle(invocation, details);
      if (outcome) return { ...outcome, commandId };
    }
    await cancel(ssm, commandId, instanceId);
    throw new DeliveryFailed('timed out waiting for the workspace to finish the delivery command', details);
  } catch (err) {
    if (signal?.aborted) {
      if (commandId) await cancel(ssm, commandId, instanceId);
      throw new DeliveryFailed('the delivery command was aborted', { ...context, commandId }, { cause: err });
    }
    throw err;
  }
}

/**
 * Sends the command once: the client's standard retry mode already backs off on throttling. What
 * is still throttled after it is AwsThrottled, which the workflow retries for minutes before the
 * workspace counts as unreachable; the command was never sent, so that is safe.
 */
async function send(
  ssm: SSMClient,
  { instanceId, script, signal, documentName = DEFAULT_DOCUMENT }: SsmRunOptions,
  executionSeconds: number,
  context: Record<string, unknown>,
): Promise<string> {
  const { SendCommandCommand } = await commands();
  let commandId: string | undefined;
  try {
    const sent = await ssm.send(
      new SendCommandCommand({
        DocumentName: documentName,
        InstanceIds: [instanceId],
        Comment: 'molecule plugin delivery',
        TimeoutSeconds: Math.max(MIN_DELIVERY_TIMEOUT_SECONDS, executionSeconds),
        Parameters: {
          commands: [`exec bash -c ${shellQuote(script)} molecule-delivery`],
          executionTimeout: [String(executionSeconds)],
        },
      }),
      { abortSignal: signal },
    );
    commandId = sent.Command?.CommandId;
  } catch (err) {
    if (errorName(err) === 'InvalidInstanceId') {
      throw new WorkspaceUnreachable('the workspace instance is not reachable through SSM', context, { cause: err });
    }
    if (isTransientAwsError(err)) throw awsThrottled(err, 'the delivery command', context);
    throw asDeliveryFailed(err, 'could not send the delivery command to the workspace', context);
  }
  if (!commandId) throw new DeliveryFailed('SSM accepted the command without an id', context);
  return commandId;
}

/** The finished result, or undefined while the command is still on its way. */
function settle(invocation: GetCommandInvocationCommandOutput, context: Record<string, unknown>): HostCommandResult | undefined {
  const status = invocation.Status ?? 'Pending';
  const statusDetails = invocation.StatusDetails ?? status;
  const stdout = invocation.StandardOutputContent ?? '';
  const stderr = invocation.StandardErrorContent ?? '';
  const exitCode = invocation.ResponseCode ?? -1;

  if (NOT_DELIVERED.has(statusDetails) || NOT_DELIVERED.has(status)) {
    throw new WorkspaceUnreachable('the workspace instance did not receive the delivery command', { ...context, statusDetails });
  }
  if (status === 'Success') return { status, stdout, stderr, exitCode };
  if (PENDING.has(status)) return undefined;

  const failure = { exitCode, hostResult: parseHostResult(stdout), outputTail: sanitizedTail(stderr) };
  const details = { ...context, statusDetails };
  if (status === 'TimedOut') throw new HostCommandFailed('the delivery command timed out on the workspace', details, { status, ...failure });
  if (status === 'Cancelled') throw new HostCommandFailed('the delivery command was cancelled', details, { status, ...failure });
  throw new HostCommandFailed('the delivery command failed on the workspace', details, { status: 'Failed', ...failure });
}

/** Whether the instance is managed by SSM and its agent is online. */
export async function isSsmOnline(ssm: SSMClient, instanceId: string): Promise<boolean> {
  const { DescribeInstanceInformationCommand } = await commands();
  try {
    const out = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }));
    return (out.InstanceInformationList ?? []).some((info) => info.InstanceId === instanceId && info.PingStatus === 'Online');
  } catch (err) {
    const name = errorName(err);
    if (name === 'InvalidInstanceId' || name === 'InvalidInstanceInformationFilterValue') return false;
    throw err;
  }
}

/** Best effort: a command we stopped waiting for should not go on changing the host. */
async function cancel(ssm: SSMClient, commandId: string, instanceId: string): Promise<void> {
  try {
    const { CancelCommandCommand } = await commands();
    await ssm.send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: [instanceId] }));
  } catch {
    // nothing more to do: the host's own execution timeout still bounds the script
  }
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

function asDeliveryFailed(err: unknown, message: string, details: Record<string, unknown>): Error {
  if (err instanceof DeliveryFailed || err instanceof WorkspaceUnreachable) return err;
  return new DeliveryFailed(message, { ...details, awsError: errorName(err) }, { cause: err });
}
