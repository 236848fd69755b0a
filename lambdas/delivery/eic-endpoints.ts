import type { EC2Client, Ec2InstanceConnectEndpoint } from '@aws-sdk/client-ec2';
import { DeliveryFailed } from '../shared/errors.js';
import { awsThrottled, isTransientAwsError } from '../shared/aws-faults.js';

/**
 * Finding the EC2 Instance Connect Endpoint (EICE) of an instance's VPC to tunnel through:
 * `DescribeInstanceConnectEndpoints`, only usable endpoints, only those the delivery role may open
 * tunnels on, cached per VPC for 5 minutes.
 */

export interface InstanceConnectEndpoint {
  id: string;
  dnsName: string;
  vpcId: string;
  subnetId?: string;
}

const USABLE_STATES = ['create-complete', 'update-in-progress', 'update-failed', 'update-complete'];

export interface EndpointDirectoryOptions {
  /** Only these endpoints are used (those the delivery role may open tunnels on); empty: any. */
  endpointIds?: readonly string[];
  ttlMs?: number;
  maxVpcs?: number;
  now?: () => number;
}

const DEFAULT_CACHE_TTL_MS = 5 * 60_000;
const DEFAULT_CACHE_VPCS = 256;
const MAX_PAGES = 10;

/**
 * The usable endpoints of each VPC, looked up once per VPC and kept for a while (an endpoint's
 * DNS name never changes, and a new one is rare), at most `maxVpcs` of them, oldest dropped first.
 * An instance uses its subnet's endpoint when there is one, else any of its VPC's.
 */
export class EndpointDirectory {
  private readonly byVpc = new Map<string, { at: number; endpoints: InstanceConnectEndpoint[] }>();
  private readonly ttlMs: number;
  private readonly maxVpcs: number;
  private readonly now: () => number;

  constructor(
    private readonly ec2: EC2Client,
    private readonly options: EndpointDirectoryOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? DEFAULT_CACHE_TTL_MS;
    this.maxVpcs = options.maxVpcs ?? DEFAULT_CACHE_VPCS;
    this.now = options.now ?? Date.now;
  }

  async find(vpcId: string, subnetId: string | undefined, signal?: AbortSignal): Promise<InstanceConnectEndpoint | undefined> {
    let entry = this.byVpc.get(vpcId);
    if (!entry || this.now() - entry.at >= this.ttlMs) {
      entry = { at: this.now(), endpoints: await this.describe(vpcId, signal) };
      this.byVpc.delete(vpcId);
      this.byVpc.set(vpcId, entry);
      while (this.byVpc.size > this.maxVpcs) this.byVpc.delete(this.byVpc.keys().next().value as string);
    }
    return entry.endpoints.find((e) => e.subnetId === subnetId) ?? entry.endpoints[0];
  }

  /** Forgets a VPC's endpoints, e.g. after one refused a tunnel or no longer answered. */
  forget(vpcId: string): void {
    this.byVpc.delete(vpcId);
  }

  private async describe(vpcId: string, signal?: AbortSignal): Promise<InstanceConnectEndpoint[]> {
    const { DescribeInstanceConnectEndpointsCommand } = await import('@aws-sdk/client-ec2');
    const ids = this.options.endpointIds ?? [];
    const found: InstanceConnectEndpoint[] = [];
    let nextToken: string | undefined;
    try {
      for (let page = 0; page < MAX_PAGES; page++) {
        const out = await this.ec2.send(
          new DescribeInstanceConnectEndpointsCommand({
            Filters: [
              { Name: 'state', Values: USABLE_STATES },
              { Name: 'vpc-id', Values: [vpcId] },
            ],
            ...(ids.length > 0 && { InstanceConnectEndpointIds: [...ids] }),
            ...(nextToken && { NextToken: nextToken }),
            ...(ids.length === 0 && { MaxResults: 50 }),
          }),
          { abortSignal: signal },
        );
        for (const e of out.InstanceConnectEndpoints ?? []) {
          const usable = usableEndpoint(e, vpcId);
          if (usable) found.push(usable);
        }
        nextToken = out.NextToken;
        if (!nextToken) break;
      }
    } catch (err) {
      const context = { vpcId, transport: 'eic-endpoint' };
      if (isTransientAwsError(err)) throw awsThrottled(err, 'the EC2 Instance Connect Endpoint lookup', context);
      throw new DeliveryFailed(
        'could not look up the EC2 Instance Connect Endpoints of the workspace VPC',
        { ...context, awsError: (err as Error).name },
        { cause: err },
      );
    }
    return found;
  }
}

function usableEndpoint(e: Ec2InstanceConnectEndpoint, vpcId: string): InstanceConnectEndpoint | undefined {
  if (!e.InstanceConnectEndpointId || !e.DnsName || e.VpcId !== vpcId || !USABLE_STATES.includes(e.State ?? '')) return undefined;
  return { id: e.InstanceConnectEndpointId, dnsName: e.DnsName, vpcId, ...(e.SubnetId && { subnetId: e.SubnetId }) };
}

const directories = new WeakMap<EC2Client, Map<string, EndpointDirectory>>();

/** One directory per EC2 client and endpoint restriction: the client lives as long as the container. */
export function endpointDirectory(ec2: EC2Client, endpointIds: readonly string[] = []): EndpointDirectory {
  const perClient = directories.get(ec2) ?? new Map<string, EndpointDirectory>();
  directories.set(ec2, perClient);
  const key = [...endpointIds].sort().join(',');
  const directory = perClient.get(key) ?? new EndpointDirectory(ec2, { endpointIds });
  perClient.set(key, directory);
  return directory;
}
