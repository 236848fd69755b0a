import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EC2InstanceConnectClient } from '@aws-sdk/client-ec2-instance-connect';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { captureClient } from './tracing.js';

/**
 * Every AWS client is made here. Endpoints come from the SDK's standard `AWS_ENDPOINT_URL` /
 * `AWS_ENDPOINT_URL_<SERVICE>` variables, so the same code talks to real AWS, LocalStack or the
 * local emulators. Each client has connect/request timeouts and the SDK's standard retry mode
 * (exponential backoff with full jitter on throttling and 5xx).
 *
 * The SDK packages are imported when a client is first made, not at module load: a Lambda only
 * pays for the services it uses (loading all of them cost ~400 ms of cold start). In a Lambda with
 * tracing on, every client is captured by Powertools Tracer, each call an X-Ray subsegment.
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
  return captureClient(
    new S3Client({
      ...(await common(opts)),
      forcePathStyle: opts.s3PathStyle ?? false,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
  );
}

/** A client of the SDK package `load` brings in, with the shared timeouts and retry. */
async function make<C>(load: Promise<new (config: Awaited<ReturnType<typeof common>>) => C>, opts: AwsClientOptions): Promise<C> {
  const [Client, config] = await Promise.all([load, common(opts)]);
  return captureClient(new Client(config));
}

/** Each service's SDK package, imported on first use. */
const sdk = {
  sfn: () => import('@aws-sdk/client-sfn').then((m) => m.SFNClient),
  ssm: () => import('@aws-sdk/client-ssm').then((m) => m.SSMClient),
  secrets: () => import('@aws-sdk/client-secrets-manager').then((m) => m.SecretsManagerClient),
  ec2: () => import('@aws-sdk/client-ec2').then((m) => m.EC2Client),
  eic: () => import('@aws-sdk/client-ec2-instance-connect').then((m) => m.EC2InstanceConnectClient),
};

export const createSfnClient = (opts: AwsClientOptions): Promise<SFNClient> => make(sdk.sfn(), opts);
export const createSsmClient = (opts: AwsClientOptions): Promise<SSMClient> => make(sdk.ssm(), opts);
export const createSecretsClient = (opts: AwsClientOptions): Promise<SecretsManagerClient> => make(sdk.secrets(), opts);
export const createEc2Client = (opts: AwsClientOptions): Promise<EC2Client> => make(sdk.ec2(), opts);
export const createEicClient = (opts: AwsClientOptions): Promise<EC2InstanceConnectClient> => make(sdk.eic(), opts);
