import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import ssh2, { type Connection, type ParsedKey } from 'ssh2';
import { fingerprint } from '../lambdas/delivery/ssh.js';
import { ed25519KeyPair } from '../lambdas/delivery/ssh-keys.js';
import { INSTANCE_ID_RE } from '../lambdas/shared/types.js';
import { AwsApiError, readBoundedBody, startAwsJsonServer } from './aws-json-server.js';
import { killGroup, knownInstanceIds, spawnOnHost, stopHostProcess } from './host-process.js';
import { listenOnLoopback, type Listening } from './listen.js';

/**
 * EC2 Instance Connect on emulated instances (SPEC §8), three parts that the real clients use
 * as they are:
 *
 * - EC2 `DescribeInstances` (the EC2 query protocol: a form-encoded POST, XML back): every
 *   well-formed instance id exists, `running` unless stopped, private IP 127.0.0.1.
 * - `SendSSHPublicKey` (AWS JSON 1.1): remembers the key for that instance and OS user for 60 s;
 *   a stopped instance answers `EC2InstanceStateInvalidException`, as EIC does.
 * - An SSH server (ssh2, host key made at start) on loopback. A client authenticates with a key
 *   pushed in the last 60 s, as the user it was pushed for; the key says which instance it is
 *   on. `exec` runs the command line with `bash -c` in that instance's root as the current user
 *   (host-process.ts, like the SSM emulator), so `PLUGIN_EIC_SSH_COMMAND` is `bash -s` here
 *   instead of `sudo -n bash -s`: stdin, stdout, stderr and the exit status go over the channel.
 */
export interface EicEmulatorOptions {
  /** Holds one directory per instance: `${MOLECULE_LOCAL_DIR}/instances` in the local stack. */
  rootDir: string;
  /** A stopped instance is not `running` and takes no keys. Default: all running. */
  isRunning?: (instanceId: string) => boolean;
  /** Milliseconds since the epoch; tests move it to expire keys. */
  now?: () => number;
}

export interface EicEmulator {
  ec2Url: string;
  eicUrl: string;
  sshHost: string;
  sshPort: number;
  hostKeyFingerprint: string;
  /** What the Lambda code reads to deliver through this emulator. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** How long EC2 Instance Connect honours a pushed key. */
export const KEY_LIFETIME_MS = 60_000;
const LOOPBACK = '127.0.0.1';
const MAX_BODY_BYTES = 64 * 1024;
const OS_USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;

interface PushedKey {
  instanceId: string;
  osUser: string;
  key: ParsedKey;
  expiresAt: number;
}

export async function startEicEmulator({ rootDir, isRunning = () => true, now = Date.now }: EicEmulatorOptions): Promise<EicEmulator> {
  /** By OS user and the key's public blob. */
  const pushed = new Map<string, PushedKey>();
  const grantId = (osUser: string, blob: Buffer) => `${osUser}\0${blob.toString('base64')}`;

  function forgetExpired(): void {
    for (const [id, grant] of pushed) if (grant.expiresAt <= now()) pushed.delete(id);
  }

  const closers: Array<() => Promise<void>> = [];
  try {
    const ec2 = await startEc2QueryServer({ rootDir, isRunning });
    closers.push(() => ec2.close());

    const eic = await startAwsJsonServer({
      targetPrefix: 'AWSEC2InstanceConnectService',
      contentType: 'application/x-amz-json-1.1',
      operations: {
        SendSSHPublicKey(input) {
          const instanceId = input.InstanceId;
          const osUser = input.InstanceOSUser;
          const publicKey = input.SSHPublicKey;
          if (typeof instanceId !== 'string' || !INSTANCE_ID_RE.test(instanceId)) {
            throw new AwsApiError('InvalidArgsException', 'InstanceId is not a valid instance id');
          }
          if (typeof osUser !== 'string' || !OS_USER_RE.test(osUser)) throw new AwsApiError('InvalidArgsException', 'InstanceOSUser is not valid');
          const key = typeof publicKey === 'string' ? ssh2.utils.parseKey(publicKey) : undefined;
          if (!key || key instanceof Error || key.isPrivateKey() || !['ssh-ed25519', 'ssh-rsa'].includes(key.type)) {
            throw new AwsApiError('InvalidArgsException', 'SSHPublicKey must be an OpenSSH RSA or ED25519 public key');
          }
          if (!isRunning(instanceId)) {
            throw new AwsApiError(
              'EC2InstanceStateInvalidException',
              'Unable to connect because the instance is not in a valid state. Connecting to a stopped or terminated instance is not supported.',
            );
          }
          forgetExpired();
          pushed.set(grantId(osUser, key.getPublicSSH()), { instanceId, osUser, key, expiresAt: now() + KEY_LIFETIME_MS });
          return { RequestId: randomUUID(), Success: true };
        },
      },
    });
    closers.push(() => eic.close());

    const ssh = await startSshServer({
      rootDir,
      authorize: (username, algo, blob) => {
        const grant = pushed.get(grantId(username, blob));
        if (!grant || grant.expiresAt <= now() || grant.key.type !== algo || !isRunning(grant.instanceId)) return undefined;
        if (!timingSafeEqual(grant.key.getPublicSSH(), blob)) return undefined;
        return grant;
      },
    });
    closers.push(() => ssh.close());

    return {
      ec2Url: ec2.url,
      eicUrl: eic.url,
      sshHost: LOOPBACK,
      sshPort: ssh.port,
      hostKeyFingerprint: ssh.hostKeyFingerprint,
      env: {
        AWS_ENDPOINT_URL_EC2: ec2.url,
        AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT: eic.url,
        PLUGIN_EIC_SSH_HOST: LOOPBACK,
        PLUGIN_EIC_SSH_PORT: String(ssh.port),
        PLUGIN_EIC_SSH_COMMAND: 'bash -s',
        PLUGIN_EIC_HOST_KEY_FINGERPRINTS: ssh.hostKeyFingerprint,
      },
      async close() {
        for (const closeOne of closers.reverse()) await closeOne();
      },
    };
  } catch (err) {
    for (const closeOne of closers.reverse()) await closeOne().catch(() => undefined);
    throw err;
  }
}

/** The part of EC2's query protocol `DescribeInstancesCommand` uses. */
async function startEc2QueryServer({ rootDir, isRunning }: { rootDir: string; isRunning: (id: string) => boolean }): Promise<Listening> {

  const describeInstances = (params: URLSearchParams): string => {
    const requested = [...params.entries()].filter(([key]) => /^InstanceId\.\d+$/.test(key)).map(([, value]) => value);
    const malformed = requested.find((id) => !INSTANCE_ID_RE.test(id));
    if (malformed !== undefined) throw new AwsApiError('InvalidInstanceID.Malformed', `Invalid id: "${malformed}"`);
    const items = (requested.length ? requested : knownInstanceIds(rootDir)).map((id) => {
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
    return describeInstances(params);
  };

  const server = createServer((req, res) => {
    handle(req).then(
      (xml) => send(res, 200, xml),
      (err: unknown) => {
        const error = err instanceof AwsApiError ? err : new AwsApiError('InternalError', 'internal error', 500);
        send(res, error.status, `<Response><Errors><Error><Code>${error.type}</Code><Message>${escapeXml(error.message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`);
      },
    );
  });
  return listenOnLoopback(server, 0);
}

interface SshServerOptions {
  rootDir: string;
  /** The pushed key a client may log in with, or undefined. */
  authorize: (username: string, algo: string, blob: Buffer) => PushedKey | undefined;
}

async function startSshServer({ rootDir, authorize }: SshServerOptions): Promise<{ port: number; hostKeyFingerprint: string; close(): Promise<void> }> {
  const hostKey = ed25519KeyPair(ssh2.utils);
  const parsedHostKey = ssh2.utils.parseKey(hostKey.public) as ParsedKey;
  const connections = new Set<Connection>();
  const processes = new Set<ChildProcess>();

  let port = 0;
  const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (client, peer) => {
    connections.add(client);
    let grant: PushedKey | undefined;
    client.on('close', () => connections.delete(client));
    client.on('error', () => undefined);

    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const candidate = authorize(ctx.username, ctx.key.algo, ctx.key.data);
      if (!candidate) return ctx.reject(['publickey']);
      if (ctx.signature) {
        if (candidate.key.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(['publickey']);
        grant = candidate;
      }
      ctx.accept();
    });

    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('pty', (_accept, reject) => reject?.());
        session.on('shell', (_accept, reject) => reject());
        session.on('subsystem', (_accept, reject) => reject());
        session.on('exec', (accept, _reject, info) => {
          const channel = accept();
          const child = spawnOnHost({
            root: join(rootDir, grant!.instanceId),
            command: 'bash',
            args: ['-c', info.command],
            stdin: 'pipe',
            // What sshd sets, so a command can tell it came over SSH.
            env: { USER: grant!.osUser, LOGNAME: grant!.osUser, SSH_CONNECTION: `${peer.ip} ${peer.port} ${LOOPBACK} ${port}` },
          });
          processes.add(child);
          child.stdin!.on('error', () => undefined);
          channel.pipe(child.stdin!);
          child.stdout!.on('data', (chunk: Buffer) => channel.write(chunk));
          child.stderr!.on('data', (chunk: Buffer) => channel.stderr.write(chunk));
          child.on('close', (code, signal) => {
            processes.delete(child);
            if (code !== null) channel.exit(code);
            else channel.exit((signal ?? 'KILL').replace(/^SIG/, ''), false, '');
            channel.end();
          });
          // A client that goes away takes its command with it.
          channel.on('close', () => {
            if (processes.has(child)) stopHostProcess(child);
          });
        });
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    port,
    hostKeyFingerprint: fingerprint(parsedHostKey.getPublicSSH()),
    close: () =>
      new Promise<void>((resolve) => {
        for (const child of processes) if (child.pid) killGroup(child.pid, 'SIGKILL');
        for (const connection of connections) connection.end();
        server.close(() => resolve());
      }),
  };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
