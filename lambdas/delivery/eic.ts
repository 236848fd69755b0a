import type { EC2Client, Instance } from '@aws-sdk/client-ec2';
import type { EC2InstanceConnectClient } from '@aws-sdk/client-ec2-instance-connect';
import { DeliveryFailed, WorkspaceUnreachable } from '../shared/errors.js';
import { awsThrottled, isTransientAwsError } from './aws-faults.js';
import type { HostCommand, HostCommandResult } from './host-command.js';
import { runOverSsh, type SshRunSettings } from './ssh.js';
import { ed25519KeyPair } from './ssh-keys.js';

/**
 * EC2 Instance Connect delivery (SPEC §5), the AWS side: look the instance up in EC2, push a fresh
 * one-time ed25519 public key with `SendSSHPublicKey` (EC2 Instance Connect honours it for 60 s),
 * then SSH to the instance's private IP as that user and run the host script (ssh.ts).
 *
 * - Host key: only the keys in `PLUGIN_EIC_HOST_KEY_FINGERPRINTS` are accepted; with none pinned,
 *   delivery refuses (delivery_failed "host key not pinned") unless
 *   `PLUGIN_EIC_ACCEPT_ANY_HOST_KEY=true` opts in to any key (the connection stays inside the VPC
 *   and its only secret, the presigned URL in the script, expires within minutes).
 * - `ssh2` and the EC2 clients are loaded on first use, so the SSM path never pays for them.
 */
export interface EicSettings extends SshRunSettings {
  osUser: string;
  sshPort: number;
  /** Connect here instead of the instance's private IP (the local emulator, a fixed forwarder). */
  sshHost?: string;
}

export interface EicClients {
  ec2: EC2Client;
  eic: EC2InstanceConnectClient;
}

export interface EicDeps {
  settings: EicSettings;
  /** Made on first use and kept; see lease.ts. */
  clients: () => Promise<EicClients>;
}

const UNREACHABLE_INSTANCE = new Set(['EC2InstanceNotFoundException', 'EC2InstanceStateInvalidException', 'EC2InstanceUnavailableException']);

export async function runViaEic(deps: EicDeps | undefined, command: HostCommand): Promise<HostCommandResult> {
  const context = { instanceId: command.instanceId, transport: 'eic' };
  if (!deps) throw new DeliveryFailed('EC2 Instance Connect delivery is not configured', context);
  const { settings } = deps;
  const { ec2, eic } = await deps.clients();

  const privateIp = await runningInstanceAddress(ec2, command);
  const host = settings.sshHost ?? privateIp;
  if (!host) throw new WorkspaceUnreachable('the workspace instance has no private IP address to connect to', context);

  const { utils } = (await import('ssh2')).default;
  const keys = ed25519KeyPair(utils);
  await pushKey(eic, command, settings.osUser, keys.public);
  const target = { host, port: settings.sshPort, username: settings.osUser, privateKey: keys.private };
  return { ...(await runOverSsh(command, settings, target, { ...context, sshHost: host })), sshHost: host };
}

/** The instance's private IP; WorkspaceUnreachable unless the instance exists and is running. */
async function runningInstanceAddress(ec2: EC2Client, { instanceId, signal }: HostCommand): Promise<string | undefined> {
  const { DescribeInstancesCommand } = await import('@aws-sdk/client-ec2');
  const context = { instanceId, transport: 'eic' };
  let instance: Instance | undefined;
  try {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: signal });
    instance = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
  } catch (err) {
    if (errorName(err)?.startsWith('InvalidInstanceID.')) {
      throw new WorkspaceUnreachable('the workspace instance does not exist', context, { cause: err });
    }
    if (isTransientAwsError(err)) throw awsThrottled(err, 'the EC2 instance lookup', context);
    throw new DeliveryFailed('could not look up the workspace instance in EC2', { ...context, awsError: errorName(err) }, { cause: err });
  }
  if (!instance) throw new WorkspaceUnreachable('the workspace instance does not exist', context);
  const state = instance.State?.Name ?? 'unknown';
  if (state !== 'running') {
    throw new WorkspaceUnreachable(`the workspace instance is not running (it is ${state})`, { ...context, state });
  }
  return instance.PrivateIpAddress;
}

async function pushKey(eic: EC2InstanceConnectClient, { instanceId, signal }: HostCommand, osUser: string, publicKey: string): Promise<void> {
  const { SendSSHPublicKeyCommand } = await import('@aws-sdk/client-ec2-instance-connect');
  const context = { instanceId, transport: 'eic' };
  try {
    await eic.send(new SendSSHPublicKeyCommand({ InstanceId: instanceId, InstanceOSUser: osUser, SSHPublicKey: publicKey }), {
      abortSignal: signal,
    });
  } catch (err) {
    const name = errorName(err);
    const details = { ...context, awsError: name };
    if (UNREACHABLE_INSTANCE.has(name ?? '')) {
      throw new WorkspaceUnreachable('the workspace instance is not running or not reachable through EC2 Instance Connect', details, { cause: err });
    }
    if (isTransientAwsError(err)) throw awsThrottled(err, 'the EC2 Instance Connect key push', context);
    if (name === 'AuthException' || name === 'AccessDeniedException') {
      throw new DeliveryFailed('the delivery service is not allowed to use EC2 Instance Connect on the workspace instance', details, { cause: err });
    }
    if (name === 'InvalidArgsException') {
      throw new DeliveryFailed('EC2 Instance Connect refused the delivery key for the workspace instance', details, { cause: err });
    }
    throw new DeliveryFailed('could not push a key to the workspace instance through EC2 Instance Connect', details, { cause: err });
  }
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}
