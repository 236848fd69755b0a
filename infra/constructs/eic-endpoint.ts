import { Fn, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/**
 * EC2 Instance Connect Endpoint access for the host steps (lambdas/delivery/eic-tunnel.ts):
 *
 * - `ec2-instance-connect:OpenTunnel` only on the configured endpoints (context `eicEndpointIds`)
 *   and those created here, only to port 22 (`ec2-instance-connect:remotePort`) and only to
 *   private addresses within `eicPrivateIpCidrs` (`ec2-instance-connect:privateIpAddress`);
 *   `ec2:DescribeInstanceConnectEndpoints` to find the instance's endpoint.
 * - Optionally one endpoint per subnet of `eicEndpointSubnetIds` (in `eicVpcId`), with a security
 *   group that allows nothing in and only SSH out: to the workspace instances' security group
 *   (`eicInstanceSecurityGroupId`) when given, else to `eicPrivateIpCidrs`. Security groups
 *   cannot match tags: the instances' group must allow SSH in from this one (see docs/operations.md).
 * - The functions learn the endpoint ids (`PLUGIN_EIC_ENDPOINT_IDS`) and the connection mode
 *   (`PLUGIN_EIC_CONNECTION`: `auto` when there are endpoints, else `direct`, unless given).
 */
export interface EicEndpointAccessProps {
  /** Existing endpoints (`eice-…`) the functions may tunnel through. */
  endpointIds?: readonly string[];
  /** Where tunnels may lead; default the RFC 1918 ranges. */
  privateIpCidrs?: readonly string[];
  /** Create an endpoint in each of these subnets (all in `vpcId`). */
  endpointSubnetIds?: readonly string[];
  vpcId?: string;
  /** The workspace instances' security group: the created endpoints may reach only it, on 22. */
  instanceSecurityGroupId?: string;
  /** `direct`, `endpoint` or `auto`; default `auto` with endpoints, `direct` without. */
  connection?: 'direct' | 'endpoint' | 'auto';
}

export const RFC1918_CIDRS = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] as const;
const ENDPOINT_ID_RE = /^eice-[0-9a-f]{8,17}$/;
const SUBNET_ID_RE = /^subnet-[0-9a-f]{8,17}$/;
const CIDR_RE = /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/;

export class EicEndpointAccess extends Construct {
  /** Ids of every endpoint the functions may use (tokens for the created ones). */
  readonly endpointIds: string[];
  readonly securityGroup?: ec2.CfnSecurityGroup;
  private readonly cidrs: readonly string[];
  private readonly connection: string;

  constructor(scope: Construct, id: string, props: EicEndpointAccessProps = {}) {
    super(scope, id);
    const configured = [...(props.endpointIds ?? [])];
    for (const endpointId of configured) if (!ENDPOINT_ID_RE.test(endpointId)) throw new Error(`eicEndpointIds: "${endpointId}" is not an eice-… id`);
    this.cidrs = props.privateIpCidrs?.length ? props.privateIpCidrs : RFC1918_CIDRS;
    for (const cidr of this.cidrs) if (!CIDR_RE.test(cidr)) throw new Error(`eicPrivateIpCidrs: "${cidr}" is not an IPv4 CIDR`);

    const subnets = props.endpointSubnetIds ?? [];
    const created: string[] = [];
    if (subnets.length > 0) {
      if (!props.vpcId) throw new Error('eicEndpointSubnetIds needs eicVpcId, the VPC of those subnets');
      for (const subnet of subnets) if (!SUBNET_ID_RE.test(subnet)) throw new Error(`eicEndpointSubnetIds: "${subnet}" is not a subnet id`);
      const securityGroup = new ec2.CfnSecurityGroup(this, 'EndpointSecurityGroup', {
        vpcId: props.vpcId,
        groupDescription: 'EC2 Instance Connect Endpoint of plugin delivery: SSH out to workspace instances only',
        // Nothing comes in: the endpoint is reached through the EC2 Instance Connect API, not the network.
        securityGroupIngress: [],
        securityGroupEgress: props.instanceSecurityGroupId
          ? [
              {
                ipProtocol: 'tcp',
                fromPort: 22,
                toPort: 22,
                destinationSecurityGroupId: props.instanceSecurityGroupId,
                description: 'SSH to workspace instances',
              },
            ]
          : this.cidrs.map((cidrIp) => ({ ipProtocol: 'tcp', fromPort: 22, toPort: 22, cidrIp, description: 'SSH to workspace instances' })),
      });
      this.securityGroup = securityGroup;
      subnets.forEach((subnetId, i) => {
        const endpoint = new ec2.CfnInstanceConnectEndpoint(this, `Endpoint${i + 1}`, {
          subnetId,
          securityGroupIds: [securityGroup.attrGroupId],
          preserveClientIp: false,
        });
        created.push(endpoint.ref);
      });
    }
    this.endpointIds = [...configured, ...created];
    this.connection = props.connection ?? (this.endpointIds.length > 0 ? 'auto' : 'direct');
  }

  /** Lets a host step tunnel through the endpoints, and tells it which ones and how. */
  grantTunnels(fn: lambda.Function): void {
    fn.addEnvironment('PLUGIN_EIC_CONNECTION', this.connection);
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeInstanceConnectEndpoints'], resources: ['*'] }));
    if (this.endpointIds.length === 0) return;
    fn.addEnvironment('PLUGIN_EIC_ENDPOINT_IDS', Fn.join(',', this.endpointIds));
    const stack = Stack.of(this);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2-instance-connect:OpenTunnel'],
        resources: this.endpointIds.map((endpointId) => stack.formatArn({ service: 'ec2', resource: 'instance-connect-endpoint', resourceName: endpointId })),
        conditions: {
          NumericEquals: { 'ec2-instance-connect:remotePort': 22 },
          IpAddress: { 'ec2-instance-connect:privateIpAddress': [...this.cidrs] },
        },
      }),
    );
  }
}
