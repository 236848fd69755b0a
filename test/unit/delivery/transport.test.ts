import { DescribeInstanceInformationCommand, InternalServerError, SSMClient, SSMServiceException } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { chooseTransport } from '../../../lambdas/delivery/transport.js';
import type { Workspace } from '../../../lambdas/shared/types.js';

const ssmMock = mockClient(SSMClient);
const ssm = new SSMClient({ region: 'us-east-1' });
const INSTANCE = 'i-0123456789abcdef0';

function workspace(overrides: Partial<Workspace> = {}): Workspace {
  return { id: 'ws-1', orgId: 'org-1', runtime: 'claude-code', instanceId: INSTANCE, transport: 'auto', status: 'running', ...overrides };
}

function agent(pingStatus: 'Online' | 'ConnectionLost' | null) {
  ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: pingStatus ? [{ InstanceId: INSTANCE, PingStatus: pingStatus }] : [] });
}

beforeEach(() => ssmMock.reset());

describe('chooseTransport', () => {
  it('uses SSM when the instance is managed and online', async () => {
    agent('Online');
    await expect(chooseTransport(workspace(), { ssm })).resolves.toBe('ssm');
  });

  it('falls back to EC2 Instance Connect when the agent is offline or the instance unmanaged', async () => {
    agent('ConnectionLost');
    await expect(chooseTransport(workspace(), { ssm })).resolves.toBe('eic');
    agent(null);
    await expect(chooseTransport(workspace(), { ssm })).resolves.toBe('eic');
  });

  it('honours a workspace forced onto EC2 Instance Connect without asking SSM', async () => {
    await expect(chooseTransport(workspace({ transport: 'eic' }), { ssm })).resolves.toBe('eic');
    expect(ssmMock.calls()).toHaveLength(0);
  });

  it('fails a workspace forced onto SSM whose agent is offline as workspace_unreachable', async () => {
    agent('ConnectionLost');
    await expect(chooseTransport(workspace({ transport: 'ssm' }), { ssm })).rejects.toMatchObject({
      code: 'workspace_unreachable',
      message: 'the workspace instance is not running or its SSM agent is offline',
    });
  });

  it.each([
    ['no instance', null],
    ['a malformed id', 'i-XYZ'],
    ['an id with shell in it', 'i-12345678; reboot'],
    ['a too-short id', 'i-1234567'],
  ])('only delivers to real instance ids: %s is workspace_unreachable', async (_label, instanceId) => {
    await expect(chooseTransport(workspace({ instanceId }), { ssm })).rejects.toMatchObject({ code: 'workspace_unreachable' });
    expect(ssmMock.calls()).toHaveLength(0);
  });

  it.each([
    ['ThrottlingException', 400],
    ['InternalServerError', 500],
  ])('leaves a %s from DescribeInstanceInformation to the workflow as AwsThrottled, not a final delivery_failed', async (name, status) => {
    ssmMock.on(DescribeInstanceInformationCommand).rejects(Object.assign(new Error('raw upstream text'), { name, $metadata: { httpStatusCode: status } }));

    await expect(chooseTransport(workspace(), { ssm })).rejects.toMatchObject({ name: 'AwsThrottled', code: 'workspace_unreachable', transient: true });
  });

  it.each([
    new SSMServiceException({
      name: 'ThrottlingException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      message: 'Rate exceeded for account 123456789012',
    }),
    new InternalServerError({ $metadata: { httpStatusCode: 500 }, message: 'internal failure for account 123456789012' }),
  ])('leaves the SDK exception $name from DescribeInstanceInformation to the workflow as AwsThrottled, in its own words', async (sdkError) => {
    ssmMock.on(DescribeInstanceInformationCommand).rejects(sdkError);

    const err = (await chooseTransport(workspace(), { ssm }).catch((e: unknown) => e)) as Error;

    expect(err).toMatchObject({ name: 'AwsThrottled', code: 'workspace_unreachable', transient: true, details: { awsError: sdkError.name } });
    expect(err.message).not.toContain('123456789012');
  });

  it('still fails a lookup SSM refuses for good as delivery_failed', async () => {
    ssmMock
      .on(DescribeInstanceInformationCommand)
      .rejects(Object.assign(new Error('raw upstream text'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }));

    await expect(chooseTransport(workspace(), { ssm })).rejects.toMatchObject({ name: 'DeliveryFailed', code: 'delivery_failed' });
  });

  it('never pushes to an external runtime', async () => {
    await expect(chooseTransport(workspace({ runtime: 'external' }), { ssm })).rejects.toMatchObject({ code: 'external_runtime' });
  });

  it('reports a failing SSM lookup as delivery_failed', async () => {
    ssmMock.on(DescribeInstanceInformationCommand).rejects(Object.assign(new Error('down'), { name: 'InternalServerError' }));
    await expect(chooseTransport(workspace(), { ssm })).rejects.toMatchObject({ code: 'delivery_failed' });
  });
});
