import { randomUUID, timingSafeEqual } from 'node:crypto';
import ssh2 from 'ssh2';
import { INSTANCE_ID_RE } from '../lambdas/shared/types.js';
import { AwsApiError, startAwsJsonServer } from './aws-json-server.js';
import { DEMO_ENDPOINT, LOOPBACK, startEc2Emulator, type EmulatedEndpoint } from './ec2-emulator.js';
import { startEiceEmulator, type EiceEmulator, type EiceEmulatorOptions } from './eice-emulator.js';
import { startSshServer, type SshGrant } from './eic-ssh-server.js';
import { NO_FAULTS, type Faults } from './faults.js';

/**
 * EC2 Instance Connect on emulated instances (SPEC §8), four parts that the real clients use
 * as they are:
 *
 * - EC2 `DescribeInstances` and `DescribeInstanceConnectEndpoints` (ec2-emulator.ts).
 * - The EC2 Instance Connect Endpoint's `openTunnel` WebSocket (eice-emulator.ts), leading to the
 *   SSH server; the demo VPC has one endpoint, so `auto` delivers through its tunnel.
 * - `SendSSHPublicKey` (AWS JSON 1.1, here): remembers the key for that instance and OS user for
 *   60 s; a stopped instance answers `EC2InstanceStateInvalidException`, as EIC does.
 * - An SSH server (eic-ssh-server.ts) that accepts a key pushed in the last 60 s, as the user it
 *   was pushed for, and runs the command in that instance's root, so `PLUGIN_EIC_SSH_COMMAND` is
 *   `bash -s` here instead of `sudo -n bash -s`.
 */
export interface EicEmulatorOptions {
  /** Holds one directory per instance: `${MOLECULE_LOCAL_DIR}/instances` in the local stack. */
  rootDir: string;
  /** A stopped instance is not `running` and takes no keys. Default: all running. */
  isRunning?: (instanceId: string) => boolean;
  /** Milliseconds since the epoch; tests move it to expire keys. */
  now?: () => number;
  /** MOLECULE_LOCAL_FAULTS (`ec2.*` and `eic.*`); default none. */
  faults?: Faults;
  /** The credentials and region presigned tunnel URLs are checked against (the local stack's). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  region?: string;
  /** The demo VPC's endpoints (default DEMO_ENDPOINT; empty: none, so `auto` goes direct) and tunnel options. */
  endpoints?: readonly EmulatedEndpoint[];
  tunnels?: Pick<EiceEmulatorOptions, 'tunnelsPerEndpoint' | 'cutAfterBytes'>;
}

export interface EicEmulator {
  ec2Url: string;
  eicUrl: string;
  sshHost: string;
  sshPort: number;
  hostKeyFingerprint: string;
  /** The endpoint tunnels: what they were asked and carried (tests). */
  tunnels: EiceEmulator;
  /** What the Lambda code reads to deliver through this emulator. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** How long EC2 Instance Connect honours a pushed key. */
export const KEY_LIFETIME_MS = 60_000;
const OS_USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;

export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export async function startEicEmulator({
  rootDir,
  isRunning = () => true,
  now = Date.now,
  faults = NO_FAULTS,
  credentials = LOCAL_CREDENTIALS,
  region = 'us-east-1',
  endpoints = [DEMO_ENDPOINT],
  tunnels: tunnelOptions = {},
}: EicEmulatorOptions): Promise<EicEmulator> {
  /** By OS user and the key's public blob. */
  const pushed = new Map<string, SshGrant>();
  const grantId = (osUser: string, blob: Buffer) => `${osUser}\0${blob.toString('base64')}`;

  function forgetExpired(): void {
    for (const [id, grant] of pushed) if (grant.expiresAt <= now()) pushed.delete(id);
  }

  const closers: Array<() => Promise<void>> = [];
  try {
    const ec2 = await startEc2Emulator({ rootDir, isRunning, faults, endpoints });
    closers.push(() => ec2.close());

    const eic = await startAwsJsonServer({
      targetPrefix: 'AWSEC2InstanceConnectService',
      contentType: 'application/x-amz-json-1.1',
      fault: () => {
        if (faults.roll('eic', 'throttle')) return new AwsApiError('ThrottlingException', 'The requests were made too frequently and have been throttled.');
        if (faults.roll('eic', 'error'))
          return new AwsApiError('ServiceException', 'The service encountered an error. Follow the instructions in the error message and try again.', 500);
        return undefined;
      },
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
          if (faults.unknownInstance('eic', instanceId)) throw new AwsApiError('EC2InstanceNotFoundException', `Instance ${instanceId} not found`);
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

    const tunnels = await startEiceEmulator({
      credentials,
      region,
      endpointIds: endpoints.map((e) => e.id),
      sshTarget: { host: LOOPBACK, port: ssh.port },
      now,
      ...tunnelOptions,
    });
    closers.push(() => tunnels.close());

    return {
      ec2Url: ec2.url,
      eicUrl: eic.url,
      sshHost: LOOPBACK,
      sshPort: ssh.port,
      hostKeyFingerprint: ssh.hostKeyFingerprint,
      tunnels,
      env: {
        AWS_ENDPOINT_URL_EC2: ec2.url,
        AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT: eic.url,
        PLUGIN_EIC_SSH_HOST: LOOPBACK,
        PLUGIN_EIC_SSH_PORT: String(ssh.port),
        PLUGIN_EIC_SSH_COMMAND: 'bash -s',
        PLUGIN_EIC_HOST_KEY_FINGERPRINTS: ssh.hostKeyFingerprint,
        // Tunnels go to the emulator instead of wss://<endpoint DNS name>; nothing else differs from AWS.
        PLUGIN_EIC_TUNNEL_URL: tunnels.url,
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
