import { EC2Client } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { presignTunnelUrl } from '../../../lambdas/delivery/eic-tunnel-url.js';

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
            vpcId: 'vpc-0123456789abcdef0',
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
