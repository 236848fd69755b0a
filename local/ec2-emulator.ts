import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { INSTANCE_ID_RE } from '../lambdas/shared/types.js';
import { AwsApiError, readBoundedBody } from './aws-json-server.js';
import { NO_FAULTS, type Faults } from './faults.js';
import { knownInstanceIds } from './host-process.js';
import { listenOnLoopback, type Listening } from './listen.js';

/**
 * EC2 `DescribeInstances` and `DescribeInstanceConnectEndpoints` on emulated instances, in the EC2
 * query protocol (a form-encoded POST, XML back): every well-formed instance id exists, `running`
 * unless stopped, private IP 127.0.0.1, in the demo VPC's subnet; that VPC has the EC2 Instance
 * Connect Endpoints given (eice-emulator.ts serves their tunnels). Errors are EC2's
 * `<Response><Errors><Error><Code>`, with `ec2.*` faults answered the same way.
 */
export interface Ec2EmulatorOptions {
  rootDir: string;
  isRunning: (instanceId: string) => boolean;
  faults?: Faults;
  /** The VPC's EC2 Instance Connect Endpoints; default none. */
  endpoints?: readonly EmulatedEndpoint[];
}

export interface EmulatedEndpoint {
  id: string;
  dnsName: string;
  vpcId: string;
  subnetId: string;
}

export const LOOPBACK = '127.0.0.1';
/** Where every emulated instance is. */
export const DEMO_NETWORK = { vpcId: 'vpc-0de00000000000001', subnetId: 'subnet-0de00000000000001' } as const;
/** The demo VPC's EC2 Instance Connect Endpoint. */
export const DEMO_ENDPOINT: EmulatedEndpoint = {
  id: 'eice-0de00000000000001',
  dnsName: 'eice-0de00000000000001.abcdef01.ec2-instance-connect-endpoint.us-east-1.amazonaws.com',
  ...DEMO_NETWORK,
};
const MAX_BODY_BYTES = 64 * 1024;

export async function startEc2Emulator({ rootDir, isRunning, faults = NO_FAULTS, endpoints = [] }: Ec2EmulatorOptions): Promise<Listening> {
  const describeInstances = (params: URLSearchParams): string => {
    const requested = [...params.entries()].filter(([key]) => /^InstanceId\.\d+$/.test(key)).map(([, value]) => value);
    const malformed = requested.find((id) => !INSTANCE_ID_RE.test(id));
    if (malformed !== undefined) throw new AwsApiError('InvalidInstanceID.Malformed', `Invalid id: "${malformed}"`);
    const unknown = requested.filter((id) => faults.unknownInstance('ec2', id));
    if (unknown.length > 0)
      throw new AwsApiError(
        'InvalidInstanceID.NotFound',
        `The instance ID${unknown.length > 1 ? 's' : ''} '${unknown.join(', ')}' ${unknown.length > 1 ? 'do' : 'does'} not exist`,
      );
    const items = (requested.length ? requested : knownInstanceIds(rootDir).filter((id) => !faults.unknownInstance('ec2', id))).map((id) => {
      const running = isRunning(id);
      return `<item><reservationId>r-${id.slice(2)}</reservationId><ownerId>000000000000</ownerId><groupSet/><instancesSet><item>
<instanceId>${id}</instanceId><imageId>ami-00000000000000000</imageId>
<instanceState><code>${running ? 16 : 80}</code><name>${running ? 'running' : 'stopped'}</name></instanceState>
<privateDnsName>localhost</privateDnsName><privateIpAddress>${LOOPBACK}</privateIpAddress><instanceType>t3.micro</instanceType>
<vpcId>${DEMO_NETWORK.vpcId}</vpcId><subnetId>${DEMO_NETWORK.subnetId}</subnetId>
<placement><availabilityZone>us-east-1a</availabilityZone></placement>
</item></instancesSet></item>`;
    });
    return `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${randomUUID()}</requestId><reservationSet>${items.join('')}</reservationSet></DescribeInstancesResponse>`;
  };

  /** `Filter.N.Name` / `Filter.N.Value.M` and `InstanceConnectEndpointId.N`, as the SDK sends them. */
  const describeInstanceConnectEndpoints = (params: URLSearchParams): string => {
    const filters = new Map<string, string[]>();
    for (const [key, name] of params) {
      const m = /^Filter\.(\d+)\.Name$/.exec(key);
      if (!m) continue;
      const values = [...params.entries()].filter(([k]) => k.startsWith(`Filter.${m[1]}.Value.`)).map(([, v]) => v);
      filters.set(name, values);
    }
    const ids = [...params.entries()].filter(([key]) => /^InstanceConnectEndpointId\.\d+$/.test(key)).map(([, v]) => v);
    const unknown = ids.find((id) => !endpoints.some((e) => e.id === id));
    if (unknown) throw new AwsApiError('InvalidInstanceConnectEndpointId.NotFound', `The instance connect endpoint ID '${unknown}' does not exist`);
    const state = 'create-complete';
    const matches = (name: string, value: string) => !filters.has(name) || filters.get(name)!.includes(value);
    const items = endpoints
      .filter((e) => (ids.length === 0 || ids.includes(e.id)) && matches('vpc-id', e.vpcId) && matches('subnet-id', e.subnetId) && matches('state', state))
      .map(
        (e) => `<item><ownerId>000000000000</ownerId><instanceConnectEndpointId>${e.id}</instanceConnectEndpointId>
<instanceConnectEndpointArn>arn:aws:ec2:us-east-1:000000000000:instance-connect-endpoint/${e.id}</instanceConnectEndpointArn>
<state>${state}</state><dnsName>${e.dnsName}</dnsName><vpcId>${e.vpcId}</vpcId><subnetId>${e.subnetId}</subnetId>
<availabilityZone>us-east-1a</availabilityZone><preserveClientIp>false</preserveClientIp></item>`,
      );
    return `<DescribeInstanceConnectEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${randomUUID()}</requestId><instanceConnectEndpointSet>${items.join('')}</instanceConnectEndpointSet></DescribeInstanceConnectEndpointsResponse>`;
  };

  const send = (res: ServerResponse, status: number, xml: string) => {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
    res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const handle = async (req: IncomingMessage): Promise<string> => {
    const params = new URLSearchParams(await readBoundedBody(req, MAX_BODY_BYTES, 'InvalidParameterValue'));
    const action = params.get('Action');
    const operation =
      action === 'DescribeInstances' ? describeInstances : action === 'DescribeInstanceConnectEndpoints' ? describeInstanceConnectEndpoints : undefined;
    if (req.method !== 'POST' || !operation) {
      throw new AwsApiError('InvalidAction', `The action ${action ?? '(none)'} is not valid for this web service.`);
    }
    if (faults.roll('ec2', 'throttle')) throw new AwsApiError('RequestLimitExceeded', 'Request limit exceeded.', 503);
    if (faults.roll('ec2', 'error')) throw new AwsApiError('InternalError', 'An internal error has occurred', 500);
    return operation(params);
  };

  const server = createServer((req, res) => {
    handle(req).then(
      (xml) => send(res, 200, xml),
      (err: unknown) => {
        const error = err instanceof AwsApiError ? err : new AwsApiError('InternalError', 'internal error', 500);
        send(
          res,
          error.status,
          `<Response><Errors><Error><Code>${error.type}</Code><Message>${escapeXml(error.message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
        );
      },
    );
  });
  return listenOnLoopback(server, 0);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
