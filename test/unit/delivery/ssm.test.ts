import { execFileSync } from 'node:child_process';
import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  InternalServerError,
  InvalidInstanceId,
  InvocationDoesNotExist,
  SendCommandCommand,
  SSMClient,
  ThrottlingException,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { HostCommandFailed } from '../../../lambdas/delivery/host-command.js';
import { isSsmOnline, runViaSsm } from '../../../lambdas/delivery/ssm.js';
import { DeliveryFailed, WorkspaceUnreachable } from '../../../lambdas/shared/errors.js';

const ssmMock = mockClient(SSMClient);
const ssm = new SSMClient({ region: 'us-east-1' });
const INSTANCE = 'i-0123456789abcdef0';
const run = { instanceId: INSTANCE, script: 'echo hi', timeoutMs: 30_000, pollIntervalMs: 1, maxPollIntervalMs: 2 };
const meta = { $metadata: {} };

function succeeded(stdout = 'MOLECULE_RESULT {"ok":true}\n') {
  return { Status: 'Success' as const, StatusDetails: 'Success', ResponseCode: 0, StandardOutputContent: stdout, StandardErrorContent: '' };
}

beforeEach(() => {
  ssmMock.reset();
  ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
});

describe('runViaSsm', () => {
  it('sends the script as AWS-RunShellScript with the execution timeout', async () => {
    ssmMock.on(GetCommandInvocationCommand).resolves(succeeded());

    await runViaSsm(ssm, run);

    expect(ssmMock).toHaveReceivedCommandExactlyOnceWith(SendCommandCommand, {
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [INSTANCE],
      TimeoutSeconds: 30,
      Parameters: { executionTimeout: ['30'], commands: [expect.any(String)] },
    });
  });

  it("runs the stack's own Command document when one is named, with the same parameters", async () => {
    ssmMock.on(GetCommandInvocationCommand).resolves(succeeded());

    await runViaSsm(ssm, { ...run, documentName: 'MoleculeHostCommand-abc' });

    expect(ssmMock).toHaveReceivedCommandExactlyOnceWith(SendCommandCommand, {
      DocumentName: 'MoleculeHostCommand-abc',
      Parameters: { executionTimeout: ['30'], commands: [expect.stringMatching(/^exec bash -c '.*' molecule-delivery$/s)] },
    });
  });

  it('hands the script to bash even though the agent runs commands with sh', async () => {
    ssmMock.on(GetCommandInvocationCommand).resolves(succeeded());

    await runViaSsm(ssm, { ...run, script: `set -euo pipefail\n[[ -n "$BASH_VERSION" ]] && printf '%s' "it's bash"` });

    const command = ssmMock.commandCalls(SendCommandCommand)[0]!.args[0].input.Parameters!.commands![0]!;
    expect(execFileSync('sh', ['-c', command], { encoding: 'utf8' })).toBe("it's bash");
  });

  it('waits through InvocationDoesNotExist right after sending, then returns the output', async () => {
    ssmMock
      .on(GetCommandInvocationCommand)
      .rejectsOnce(new InvocationDoesNotExist({ message: 'not yet', ...meta }))
      .resolvesOnce({ Status: 'InProgress' })
      .resolves(succeeded('MOLECULE_RESULT {"ok":true}\n'));

    const result = await runViaSsm(ssm, run);

    expect(result).toEqual({ status: 'Success', stdout: 'MOLECULE_RESULT {"ok":true}\n', stderr: '', exitCode: 0, commandId: 'cmd-1' });
    expect(ssmMock).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 3);
  });

  it('polls on through a throttled status read', async () => {
    ssmMock
      .on(GetCommandInvocationCommand)
      .rejectsOnce(new ThrottlingException({ message: 'slow down', Message: 'slow down', ...meta }))
      .resolves(succeeded());

    await expect(runViaSsm(ssm, run)).resolves.toMatchObject({ status: 'Success' });
    expect(ssmMock).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 2);
  });

  // The client's standard retry mode (shared/aws.ts) has already backed off when this surfaces.
  it('leaves a throttled SendCommand to the workflow as AwsThrottled (the throttle budget), sending it once', async () => {
    ssmMock.on(SendCommandCommand).rejects(new ThrottlingException({ message: 'slow down', Message: 'slow down', ...meta }));

    await expect(runViaSsm(ssm, run)).rejects.toMatchObject({
      code: 'workspace_unreachable',
      name: 'AwsThrottled',
      transient: true,
      details: { awsError: 'ThrottlingException' },
    });
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(ssmMock).not.toHaveReceivedCommand(GetCommandInvocationCommand);
  });

  it('leaves an SSM 500 from SendCommand to the workflow as AwsThrottled, in its own words', async () => {
    const text = 'An internal error occurred processing the request for arn:aws:ssm:us-east-1:123456789012:document/AWS-RunShellScript';
    ssmMock.on(SendCommandCommand).rejects(new InternalServerError({ message: text, Message: text, $metadata: { httpStatusCode: 500 } }));

    const err = (await runViaSsm(ssm, run).catch((e: unknown) => e)) as Error;

    expect(err).toMatchObject({ name: 'AwsThrottled', code: 'workspace_unreachable', transient: true, details: { awsError: 'InternalServerError' } });
    expect(err.message).not.toContain(text);
  });

  it('polls on through an SSM 500 reading the status', async () => {
    ssmMock
      .on(GetCommandInvocationCommand)
      .rejectsOnce(new InternalServerError({ message: 'internal', Message: 'internal', $metadata: { httpStatusCode: 500 } }))
      .resolves(succeeded());

    await expect(runViaSsm(ssm, run)).resolves.toMatchObject({ status: 'Success' });
  });

  it('turns a failed script into delivery_failed without echoing host output', async () => {
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      StatusDetails: 'Failed',
      ResponseCode: 22,
      StandardOutputContent: 'MOLECULE_RESULT {"ok":false,"code":"delivery_failed","step":"download","restored":true}\n',
      StandardErrorContent: 'curl: (22) https://bucket.s3.amazonaws.com/k?X-Amz-Signature=SECRET returned 403\n',
    });

    const err = (await runViaSsm(ssm, run).catch((e: unknown) => e)) as HostCommandFailed;

    expect(err).toBeInstanceOf(DeliveryFailed);
    expect(err).toBeInstanceOf(HostCommandFailed);
    expect(err.failure).toMatchObject({ status: 'Failed', exitCode: 22, hostResult: { step: 'download', restored: true } });
    expect(err.code).toBe('delivery_failed');
    expect(err.message).toBe('the delivery command failed on the workspace');
    expect(err.details).toMatchObject({ exitCode: 22, hostResult: { step: 'download', restored: true } });
    expect(String(err.details.outputTail)).toContain('curl: (22)');
    expect(String(err.details.outputTail)).not.toContain('SECRET');
  });

  it('turns an execution timeout into delivery_failed', async () => {
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut', ResponseCode: -1 });

    await expect(runViaSsm(ssm, run)).rejects.toMatchObject({ code: 'delivery_failed', message: 'the delivery command timed out on the workspace' });
  });

  it.each([
    ['Undeliverable', { Status: 'Failed' as const, StatusDetails: 'Undeliverable' }],
    ['DeliveryTimedOut', { Status: 'TimedOut' as const, StatusDetails: 'DeliveryTimedOut' }],
  ])('turns %s into workspace_unreachable', async (_label, invocation) => {
    ssmMock.on(GetCommandInvocationCommand).resolves(invocation);

    await expect(runViaSsm(ssm, run)).rejects.toThrow(WorkspaceUnreachable);
  });

  it('turns InvalidInstanceId from SendCommand into workspace_unreachable', async () => {
    ssmMock.on(SendCommandCommand).rejects(new InvalidInstanceId({ message: 'Instances not in a valid state', ...meta }));

    await expect(runViaSsm(ssm, run)).rejects.toMatchObject({ code: 'workspace_unreachable' });
  });

  it("stops waiting at the invocation's deadline, well before the host's own bound, and cancels the command", async () => {
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });

    await expect(runViaSsm(ssm, { ...run, timeoutMs: 300_000, deadline: Date.now() + 50 })).rejects.toMatchObject({
      code: 'delivery_failed',
      message: 'timed out waiting for the workspace to finish the delivery command',
    });
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, { Parameters: expect.objectContaining({ executionTimeout: ['300'] }) });
    expect(ssmMock).toHaveReceivedCommandWith(CancelCommandCommand, { CommandId: 'cmd-1', InstanceIds: [INSTANCE] });
  });

  it('gives up at the deadline and cancels the command', async () => {
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });

    await expect(runViaSsm(ssm, { ...run, timeoutMs: 30, graceMs: 0 })).rejects.toMatchObject({
      code: 'delivery_failed',
      message: 'timed out waiting for the workspace to finish the delivery command',
    });
    expect(ssmMock).toHaveReceivedNthCommandWith(CancelCommandCommand, 1, { CommandId: 'cmd-1', InstanceIds: [INSTANCE] });
  });

  it('stops waiting and cancels when aborted', async () => {
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);

    await expect(runViaSsm(ssm, { ...run, pollIntervalMs: 5, signal: controller.signal })).rejects.toMatchObject({
      code: 'delivery_failed',
      message: 'the delivery command was aborted',
    });
    expect(ssmMock).toHaveReceivedCommandOnce(CancelCommandCommand);
  });

  it('reports other API errors as delivery_failed', async () => {
    ssmMock.on(GetCommandInvocationCommand).rejects(Object.assign(new Error('boom'), { name: 'InternalServerError' }));

    await expect(runViaSsm(ssm, run)).rejects.toMatchObject({ code: 'delivery_failed', details: { awsError: 'InternalServerError' } });
  });
});

describe('isSsmOnline', () => {
  it('asks for the one instance and needs PingStatus Online', async () => {
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: INSTANCE, PingStatus: 'Online' }] });

    await expect(isSsmOnline(ssm, INSTANCE)).resolves.toBe(true);
    expect(ssmMock).toHaveReceivedCommandWith(DescribeInstanceInformationCommand, {
      Filters: [{ Key: 'InstanceIds', Values: [INSTANCE] }],
    });
  });

  it.each([
    ['connection lost', { InstanceInformationList: [{ InstanceId: INSTANCE, PingStatus: 'ConnectionLost' as const }] }],
    ['not managed', { InstanceInformationList: [] }],
  ])('is false when the instance is %s', async (_label, response) => {
    ssmMock.on(DescribeInstanceInformationCommand).resolves(response);

    await expect(isSsmOnline(ssm, INSTANCE)).resolves.toBe(false);
  });
});
