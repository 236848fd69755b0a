import { DescribeInstanceConnectEndpointsCommand, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EndpointDirectory, holdTunnelSlot, memoryTunnelSlots, presignTunnelUrl } from '../../../lambdas/delivery/eic-tunnel.js';

const ec2Mock = mockClient(EC2Client);
const VPC = 'vpc-0123456789abcdef0';
const endpoint = (id: string, subnetId: string, extra: Record<string, unknown> = {}) => ({
  InstanceConnectEndpointId: id,
  DnsName: `${id}.example.amazonaws.com`,
  VpcId: VPC,
  SubnetId: subnetId,
  State: 'create-complete' as const,
  ...extra,
});

beforeEach(() => ec2Mock.reset());

describe('EndpointDirectory', () => {
  it("prefers the endpoint of the instance's subnet, else any of its VPC, and asks only for usable ones in that VPC", async () => {
    ec2Mock.on(DescribeInstanceConnectEndpointsCommand).resolves({
      InstanceConnectEndpoints: [endpoint('eice-00000000000000001', 'subnet-a'), endpoint('eice-00000000000000002', 'subnet-b')],
    });
    const directory = new EndpointDirectory(new EC2Client({ region: 'us-east-1' }));

    expect((await directory.find(VPC, 'subnet-b'))?.id).toBe('eice-00000000000000002');
    expect((await directory.find(VPC, 'subnet-z'))?.id).toBe('eice-00000000000000001');
    const [call] = ec2Mock.commandCalls(DescribeInstanceConnectEndpointsCommand);
    expect(call!.args[0].input.Filters).toEqual([
      { Name: 'state', Values: ['create-complete', 'update-in-progress', 'update-failed', 'update-complete'] },
      { Name: 'vpc-id', Values: [VPC] },
    ]);
  });

  it('asks EC2 once per VPC until the entry is older than its TTL, and keeps at most maxVpcs', async () => {
    ec2Mock.on(DescribeInstanceConnectEndpointsCommand).resolves({ InstanceConnectEndpoints: [] });
    let now = 0;
    const directory = new EndpointDirectory(new EC2Client({ region: 'us-east-1' }), { ttlMs: 1_000, maxVpcs: 2, now: () => now });

    await directory.find(VPC, undefined);
    await directory.find(VPC, undefined);
    expect(ec2Mock.commandCalls(DescribeInstanceConnectEndpointsCommand)).toHaveLength(1);
    now = 1_000;
    await directory.find(VPC, undefined);
    expect(ec2Mock.commandCalls(DescribeInstanceConnectEndpointsCommand)).toHaveLength(2);
    await directory.find('vpc-2', undefined);
    await directory.find('vpc-3', undefined);
    await directory.find(VPC, undefined);
    expect(ec2Mock.commandCalls(DescribeInstanceConnectEndpointsCommand)).toHaveLength(5);
  });

  it('ignores endpoints being created or deleted, or of another VPC, and follows pages', async () => {
    ec2Mock
      .on(DescribeInstanceConnectEndpointsCommand)
      .resolvesOnce({ InstanceConnectEndpoints: [endpoint('eice-00000000000000001', 'subnet-a', { State: 'delete-in-progress' })], NextToken: 't1' })
      .resolvesOnce({ InstanceConnectEndpoints: [endpoint('eice-00000000000000002', 'subnet-a', { VpcId: 'vpc-other' })], NextToken: 't2' })
      .resolvesOnce({ InstanceConnectEndpoints: [endpoint('eice-00000000000000003', 'subnet-a')] });

    expect((await new EndpointDirectory(new EC2Client({ region: 'us-east-1' })).find(VPC, 'subnet-a'))?.id).toBe('eice-00000000000000003');
  });

  it('turns throttling into the retried AwsThrottled and other errors into delivery_failed, echoing neither', async () => {
    const directory = new EndpointDirectory(new EC2Client({ region: 'us-east-1' }));
    ec2Mock
      .on(DescribeInstanceConnectEndpointsCommand)
      .rejects(Object.assign(new Error('raw throttle text'), { name: 'RequestLimitExceeded', $metadata: { httpStatusCode: 503 } }));
    await expect(directory.find(VPC, undefined)).rejects.toMatchObject({ name: 'AwsThrottled', code: 'workspace_unreachable' });

    ec2Mock
      .on(DescribeInstanceConnectEndpointsCommand)
      .rejects(Object.assign(new Error('raw denial text'), { name: 'UnauthorizedOperation', $metadata: { httpStatusCode: 403 } }));
    const err = (await directory.find(VPC, undefined).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'delivery_failed', details: { awsError: 'UnauthorizedOperation' } });
    expect(err.message).not.toContain('raw');
  });

  it('turns an EC2 500 (the SDK exception InternalError) into the retried AwsThrottled, in its own words', async () => {
    const directory = new EndpointDirectory(new EC2Client({ region: 'us-east-1' }));
    ec2Mock
      .on(DescribeInstanceConnectEndpointsCommand)
      .rejects(
        new EC2ServiceException({ name: 'InternalError', $fault: 'server', $metadata: { httpStatusCode: 500 }, message: 'An internal error has occurred' }),
      );

    const err = (await directory.find(VPC, undefined).catch((e: unknown) => e)) as Error;

    expect(err).toMatchObject({ name: 'AwsThrottled', code: 'workspace_unreachable', transient: true, details: { awsError: 'InternalError' } });
    expect(err.message).not.toContain('An internal error has occurred');
  });
});

describe('holdTunnelSlot', () => {
  it('waits with growing, jittered delays while every slot is taken, then takes the freed one', async () => {
    let now = 0;
    const slots = memoryTunnelSlots(() => now);
    await slots.take('eice-1', 'other', 1, 2_000);
    const delays: number[] = [];

    const held = await holdTunnelSlot(slots, 'eice-1', {
      cap: 1,
      leaseMs: 60_000,
      waitUntil: 60_000,
      now: () => now,
      random: () => 1,
      sleep: async (ms) => {
        delays.push(ms);
        now += ms;
      },
    });

    expect(delays).toEqual([100, 200, 400, 800, 1_600]);
    expect(held.waitedMs).toBe(3_100);
    expect(await slots.take('eice-1', 'third', 1, 1_000)).toBeUndefined();
    await held.release();
    expect(await slots.take('eice-1', 'third', 1, 1_000)).toBe(0);
  });

  it('is workspace_busy once the wait is over, having slept no longer than it had', async () => {
    let now = 0;
    const slots = memoryTunnelSlots(() => now);
    await slots.take('eice-1', 'other', 2, 600_000);
    await slots.take('eice-1', 'another', 2, 600_000);
    let slept = 0;

    const busy = holdTunnelSlot(slots, 'eice-1', {
      cap: 2,
      leaseMs: 1_000,
      waitUntil: 1_000,
      now: () => now,
      random: () => 0.5,
      sleep: async (ms) => {
        slept += ms;
        now += ms;
      },
    });

    await expect(busy).rejects.toMatchObject({ name: 'WorkspaceBusy', code: 'workspace_busy', details: { endpointId: 'eice-1', cap: 2 } });
    expect(slept).toBe(1_000);
  });
});

describe('presignTunnelUrl', () => {
  it("signs the AWS CLI's openTunnel query for service ec2-instance-connect, valid 60 s, with the session token", async () => {
    const url = new URL(
      await presignTunnelUrl(
        {
          region: 'eu-west-1',
          credentials: async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token+/=' }),
          sha256: new EC2Client({ region: 'eu-west-1' }).config.sha256,
        },
        {
          endpoint: {
            id: 'eice-0123456789abcdef0',
            dnsName: 'eice-0123456789abcdef0.11111111.ec2-instance-connect-endpoint.eu-west-1.amazonaws.com',
            vpcId: VPC,
          },
          privateIpAddress: '10.1.2.3',
          maxTunnelSeconds: 5_000,
          signingDate: new Date('2026-01-02T03:04:05Z'),
        },
      ),
    );

    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe(
      'wss://eice-0123456789abcdef0.11111111.ec2-instance-connect-endpoint.eu-west-1.amazonaws.com/openTunnel',
    );
    expect(Object.fromEntries(url.searchParams)).toEqual({
      instanceConnectEndpointId: 'eice-0123456789abcdef0',
      remotePort: '22',
      privateIpAddress: '10.1.2.3',
      maxTunnelDuration: '3600',
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'AKIDEXAMPLE/20260102/eu-west-1/ec2-instance-connect/aws4_request',
      'X-Amz-Date': '20260102T030405Z',
      'X-Amz-Expires': '60',
      'X-Amz-Security-Token': 'token+/=',
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Signature': expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });
});
