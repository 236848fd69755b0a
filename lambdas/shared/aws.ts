import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EC2InstanceConnectClient } from '@aws-sdk/client-ec2-instance-connect';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * Every AWS client is made here. Endpoints come from the SDK's standard `AWS_ENDPOINT_URL` /
 * `AWS_ENDPOINT_URL_<SERVICE>` variables, so the same code talks to real AWS, LocalStack or the
 * local emulators. Each client has connect/request timeouts and the SDK's standard retry mode
 * (exponential backoff with full jitter on throttling and 5xx).
 *
 * The SDK packages are imported when a client is first made, not at module load: a Lambda only
 * pays for the services it uses (loading all of them cost ~400 ms of cold start).
 */
export interface AwsClientOptions {
  region: string;
  httpTimeoutMs: number;
  /** Path-style S3 addressing: only for an endpoint override (s3rver, LocalStack); real S3 is virtual-hosted. */
  s3PathStyle?: boolean;
}

async function common({ region, httpTimeoutMs }: AwsClientOptions) {
  const { NodeHttpHandler } = await import('@smithy/node-http-handler');
  return {
    region,
    maxAttempts: 4,
    retryMode: 'standard',
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: httpTimeoutMs }),
  } as const;
}

export async function createS3Client(opts: AwsClientOptions): Promise<S3Client> {
  const { S3Client } = await import('@aws-sdk/client-s3');
  // WHEN_REQUIRED checksums: s3rver (local) and most S3 emulators need them, and real S3 accepts them.
  return new S3Client({
    ...(await common(opts)),
    forcePathStyle: opts.s3PathStyle ?? false,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function createSfnClient(opts: AwsClientOptions): Promise<SFNClient> {
  const { SFNClient } = await import('@aws-sdk/client-sfn');
  return new SFNClient(await common(opts));
}

export async function createSsmClient(opts: AwsClientOptions): Promise<SSMClient> {
  const { SSMClient } = await import('@aws-sdk/client-ssm');
  return new SSMClient(await common(opts));
}

export async function createSecretsClient(opts: AwsClientOptions): Promise<SecretsManagerClient> {
  const { SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  return new SecretsManagerClient(await common(opts));
}

export async function createEc2Client(opts: AwsClientOptions): Promise<EC2Client> {
  const { EC2Client } = await import('@aws-sdk/client-ec2');
  return new EC2Client(await common(opts));
}

export async function createEicClient(opts: AwsClientOptions): Promise<EC2InstanceConnectClient> {
  const { EC2InstanceConnectClient } = await import('@aws-sdk/client-ec2-instance-connect');
  return new EC2InstanceConnectClient(await common(opts));
}
