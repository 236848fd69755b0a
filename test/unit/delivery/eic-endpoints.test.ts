import { DescribeInstanceConnectEndpointsCommand, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EndpointDirectory } from '../../../lambdas/delivery/eic-endpoints.js';

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
