import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { INSTANCE_ID_RE } from '../lambdas/shared/types.js';
import { AwsApiError, readBoundedBody } from './aws-json-server.js';
import { NO_FAULTS, type Faults } from './faults.js';
import { knownInstanceIds } from './host-process.js';
import { listenOnLoopback, type Listening } from './listen.js';

/**
 * EC2 `DescribeInstances` on emulated instances, in the EC2 query protocol (a form-encoded POST,
 * XML back): every well-formed instance id exists, `running` unless stopped, private IP 127.0.0.1.
 * Errors are EC2's `<Response><Errors><Error><Code>`, with `ec2.*` faults answered the same way.
 */
export interface Ec2EmulatorOptions {
  rootDir: string;
  isRunning: (instanceId: string) => boolean;
  faults?: Faults;
}

export const LOOPBACK = '127.0.0.1';
const MAX_BODY_BYTES = 64 * 1024;

export async function startEc2Emulator({ rootDir, isRunning, faults = NO_FAULTS }: Ec2EmulatorOptions): Promise<Listening> {
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
<placement><availabilityZone>us-east-1a</availabilityZone></placement>
</item></instancesSet></item>`;
    });
    return `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${randomUUID()}</requestId><reservationSet>${items.join('')}</reservationSet></DescribeInstancesResponse>`;
  };

  const send = (res: ServerResponse, status: number, xml: string) => {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
    res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const handle = async (req: IncomingMessage): Promise<string> => {
    const params = new URLSearchParams(await readBoundedBody(req, MAX_BODY_BYTES, 'InvalidParameterValue'));
    const action = params.get('Action');
    if (req.method !== 'POST' || action !== 'DescribeInstances') {
      throw new AwsApiError('InvalidAction', `The action ${action ?? '(none)'} is not valid for this web service.`);
    }
    if (faults.roll('ec2', 'throttle')) throw new AwsApiError('RequestLimitExceeded', 'Request limit exceeded.', 503);
    if (faults.roll('ec2', 'error')) throw new AwsApiError('InternalError', 'An internal error has occurred', 500);
    return describeInstances(params);
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
