import type { EC2Client } from '@aws-sdk/client-ec2';
import type { InstanceConnectEndpoint } from './eic-endpoints.js';

/**
 * The URL that opens an EC2 Instance Connect Endpoint tunnel, as `aws ec2-instance-connect
 * open-tunnel` builds it: `wss://<endpoint DNS name>/openTunnel?instanceConnectEndpointId=…&
 * remotePort=22&privateIpAddress=…&maxTunnelDuration=…`, presigned with SigV4 (service
 * `ec2-instance-connect`, valid 60 s) with the function's own credentials. The signer is loaded on
 * first use, so the SSM path and cold starts never pay for it.
 */

/** The SSH port the tunnel reaches; the OpenTunnel grant allows no other (infra/constructs/eic-endpoint.ts). */
export const TUNNEL_REMOTE_PORT = 22;
/** What the endpoint accepts as `maxTunnelDuration`, in seconds. */
const MAX_TUNNEL_SECONDS = 3_600;
/** How long a presigned OpenTunnel URL is valid: it is used at once (as the AWS CLI does). */
const PRESIGN_EXPIRY_SECONDS = 60;

/** What signs the OpenTunnel request: the EC2 client's own region, credentials and hash. */
export interface TunnelSigning {
  region: string;
  credentials: () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>;
  sha256: ConstructorParameters<typeof import('@smithy/signature-v4').SignatureV4>[0]['sha256'];
}

export async function signingFrom(ec2: EC2Client): Promise<TunnelSigning> {
  return { region: await ec2.config.region(), credentials: () => ec2.config.credentials(), sha256: ec2.config.sha256 };
}

export interface TunnelRequest {
  endpoint: InstanceConnectEndpoint;
  privateIpAddress: string;
  maxTunnelSeconds: number;
  /** `ws://host:port` or `wss://host` in place of `wss://<endpoint DNS name>` (PLUGIN_EIC_TUNNEL_URL: an emulator, a proxy). */
  tunnelUrl?: string;
  signingDate?: Date;
}

/** The presigned `openTunnel` URL, as the AWS CLI's open-tunnel builds it. */
export async function presignTunnelUrl(signing: TunnelSigning, request: TunnelRequest): Promise<string> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const base = new URL(request.tunnelUrl ?? `wss://${request.endpoint.dnsName}`);
  const signer = new SignatureV4({ service: 'ec2-instance-connect', region: signing.region, credentials: signing.credentials, sha256: signing.sha256 });
  const signed = await signer.presign(
    {
      method: 'GET',
      protocol: base.protocol,
      hostname: base.hostname,
      ...(base.port && { port: Number(base.port) }),
      path: '/openTunnel',
      query: {
        instanceConnectEndpointId: request.endpoint.id,
        remotePort: String(TUNNEL_REMOTE_PORT),
        privateIpAddress: request.privateIpAddress,
        maxTunnelDuration: String(clampSeconds(request.maxTunnelSeconds)),
      },
      headers: { host: base.host },
    },
    { expiresIn: PRESIGN_EXPIRY_SECONDS, ...(request.signingDate && { signingDate: request.signingDate }) },
  );
  const query = Object.entries(signed.query ?? {})
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&');
  return `${base.protocol}//${base.host}/openTunnel?${query}`;
}

export function clampSeconds(seconds: number): number {
  return Math.max(1, Math.min(MAX_TUNNEL_SECONDS, Math.ceil(seconds)));
}
