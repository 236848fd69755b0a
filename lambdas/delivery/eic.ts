import type { EC2Client, Instance } from '@aws-sdk/client-ec2';
import type { EC2InstanceConnectClient } from '@aws-sdk/client-ec2-instance-connect';
import type { Duplex } from 'node:stream';
import { DeliveryFailed, WorkspaceUnreachable } from '../shared/errors.js';
import { logger } from '../shared/logger.js';
import { awsThrottled, isTransientAwsError } from '../shared/aws-faults.js';
import { endpointDirectory, type InstanceConnectEndpoint } from './eic-endpoints.js';
import { openTunnel } from './eic-tunnel.js';
import { holdTunnelSlot, processTunnelSlots, type TunnelSlots } from './eic-tunnel-slots.js';
import { clampSeconds, presignTunnelUrl, signingFrom } from './eic-tunnel-url.js';
import type { HostCommand, HostCommandResult } from './host-command.js';
import { runOverSsh, type SshRunSettings } from './ssh.js';
import { ed25519KeyPair } from './ssh-keys.js';
import type { Config } from '../shared/config.js';
import type { TransportTaken } from '../shared/types.js';

/**
 * EC2 Instance Connect delivery (SPEC §5), the AWS side: look the instance up in EC2, push a fresh
 * one-time ed25519 public key with `SendSSHPublicKey` (EC2 Instance Connect honours it for 60 s),
 * then SSH as that user and run the host script (ssh.ts), either
 *
 * - `eic-direct`: to the instance's private IP (the function must be in its VPC), or
 * - `eic-endpoint`: through an EC2 Instance Connect Endpoint tunnel (eic-tunnel.ts and its neighbours), so the
 *   function can stay outside the VPC. `PLUGIN_EIC_CONNECTION`: `direct`, `endpoint`, or `auto`
 *   (the default): the endpoint when the instance's VPC has one, else direct.
 *
 * - Host key: only the keys in `PLUGIN_EIC_HOST_KEY_FINGERPRINTS` are accepted; with none pinned,
 *   delivery refuses (delivery_failed "host key not pinned") unless
 *   `PLUGIN_EIC_ACCEPT_ANY_HOST_KEY=true` opts in to any key (the connection stays inside the VPC
 *   and its only secret, the presigned URL in the script, expires within minutes).
 * - `ssh2`, `ws` and the EC2 clients are loaded on first use, so the SSM path never pays for them.
 */
export interface EicSettings extends SshRunSettings {
  osUser: string;
  sshPort: number;
  /** Connect here instead of the instance's private IP (the local emulator, a fixed forwarder); direct only. */
  sshHost?: string;
  /** `PLUGIN_EIC_CONNECTION` (default `auto`); absent here, direct, as before endpoints existed. */
  connection?: Config['eic']['connection'];
  /** Tunnels open at once through one endpoint, across all steps (the service's quota is 20). */
  tunnelsPerEndpoint?: number;
  /** `ws://host:port` / `wss://host` in place of `wss://<endpoint DNS name>` (the local emulator, a proxy). */
  tunnelUrl?: string;
  /** Only these endpoints are used (the ones the role may open tunnels on); empty: any in the VPC. */
  endpointIds?: readonly string[];
  /** How long a delivery waits for a free tunnel slot at most (default 2 min, and at most half the time left). */
  tunnelSlotWaitMs?: number;
  /** Silence from the endpoint after which the tunnel is given up (default 60 s). */
  tunnelIdleMs?: number;
}

export interface EicClients {
  ec2: EC2Client;
  eic: EC2InstanceConnectClient;
}

export interface EicDeps {
  settings: EicSettings;
  /** Made on first use and kept; see lease.ts. */
  clients: () => Promise<EicClients>;
  /** The per-endpoint tunnel cap shared by every step (PostgreSQL); default: this process only. */
  tunnelSlots?: TunnelSlots;
}

type EicTransport = Exclude<TransportTaken, 'ssm'>;

interface RunningInstance {
  privateIp?: string;
  vpcId?: string;
  subnetId?: string;
}

const UNREACHABLE_INSTANCE = new Set(['EC2InstanceNotFoundException', 'EC2InstanceStateInvalidException', 'EC2InstanceUnavailableException']);
const DEFAULT_SLOT_WAIT_MS = 120_000;
const DEFAULT_TUNNEL_IDLE_MS = 60_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;
const DEFAULT_GRACE_MS = 15_000;

export async function runViaEic(deps: EicDeps | undefined, command: HostCommand): Promise<{ transport: EicTransport; output: HostCommandResult }> {
  const context = { instanceId: command.instanceId, transport: 'eic' };
  if (!deps) throw new DeliveryFailed('EC2 Instance Connect delivery is not configured', context);
  const { settings } = deps;
  const { ec2, eic } = await deps.clients();

  const instance = await runningInstance(ec2, command);
  const endpoint = await chooseEndpoint(ec2, settings, instance, command);
  const { utils } = (await import('ssh2')).default;
  const keys = ed25519KeyPair(utils);
  const login = { username: settings.osUser, privateKey: keys.private };

  if (!endpoint) {
    const host = settings.sshHost ?? instance.privateIp;
    if (!host)
      throw new WorkspaceUnreachable('the workspace instance has no private IP address to connect to', {
        instanceId: command.instanceId,
        transport: 'eic-direct',
      });
    const direct = { instanceId: command.instanceId, transport: 'eic-direct', sshHost: host };
    await pushKey(eic, command, settings.osUser, keys.public);
    return { transport: 'eic-direct', output: { ...(await runOverSsh(command, settings, { host, port: settings.sshPort, ...login }, direct)), sshHost: host } };
  }
  const output = await runThroughEndpoint(deps, { ec2, eic }, command, instance, endpoint, keys);
  return { transport: 'eic-endpoint', output: instance.privateIp ? { ...output, sshHost: instance.privateIp } : output };
}

/** The endpoint to tunnel through, or undefined to SSH directly, as `PLUGIN_EIC_CONNECTION` says. */
async function chooseEndpoint(ec2: EC2Client, settings: EicSettings, instance: RunningInstance, { instanceId, signal }: HostCommand) {
  const mode = settings.connection ?? 'direct';
  if (mode === 'direct') return undefined;
  const context = { instanceId, transport: 'eic-endpoint', connection: mode };
  const endpoint = instance.vpcId ? await endpointDirectory(ec2, settings.endpointIds).find(instance.vpcId, instance.subnetId, signal) : undefined;
  if (!endpoint && mode === 'endpoint') {
    throw new WorkspaceUnreachable("there is no EC2 Instance Connect Endpoint in the workspace instance's VPC to tunnel through", {
      ...context,
      ...(instance.vpcId && { vpcId: instance.vpcId }),
    });
  }
  return endpoint;
}

/**
 * Through the endpoint: a slot of its cap first (waiting may take longer than a pushed key lives),
 * then the key, the presigned tunnel and SSH over it; the slot is given back however it ends.
 */
async function runThroughEndpoint(
  deps: EicDeps,
  { ec2, eic }: EicClients,
  command: HostCommand,
  instance: RunningInstance,
  endpoint: InstanceConnectEndpoint,
  keys: { private: string; public: string },
): Promise<HostCommandResult> {
  const { settings } = deps;
  const context = { instanceId: command.instanceId, transport: 'eic-endpoint', endpointId: endpoint.id };
  if (!instance.privateIp) throw new WorkspaceUnreachable('the workspace instance has no private IP address to connect to', context);

  const connectMs = settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const tunnelMs = 2 * connectMs + command.timeoutMs + (settings.graceMs ?? DEFAULT_GRACE_MS);
  const maxTunnelSeconds = clampSeconds(tunnelMs / 1000);
  const now = Date.now();
  const timeLeft = command.deadline === undefined ? Infinity : command.deadline - now;
  const slot = await holdTunnelSlot(deps.tunnelSlots ?? processTunnelSlots, endpoint.id, {
    cap: settings.tunnelsPerEndpoint ?? 20,
    // The endpoint closes the tunnel after maxTunnelDuration: a slot never needs to outlive it by much.
    leaseMs: maxTunnelSeconds * 1000 + connectMs,
    waitUntil: now + Math.min(settings.tunnelSlotWaitMs ?? DEFAULT_SLOT_WAIT_MS, timeLeft / 2),
    ...(command.signal && { signal: command.signal }),
  });
  try {
    // Time spent waiting comes off the host's bound, which must still end before the invocation.
    const bounded = { ...command, timeoutMs: Math.max(1_000, command.timeoutMs - slot.waitedMs) };
    await pushKey(eic, command, settings.osUser, keys.public);
    const url = await presignTunnelUrl(await signingFrom(ec2), {
      endpoint,
      privateIpAddress: instance.privateIp,
      maxTunnelSeconds,
      ...(settings.tunnelUrl && { tunnelUrl: settings.tunnelUrl }),
    });
    let sock: Duplex;
    try {
      sock = await openTunnel(
        url,
        { openMs: connectMs, idleMs: settings.tunnelIdleMs ?? DEFAULT_TUNNEL_IDLE_MS, totalMs: maxTunnelSeconds * 1000 },
        context,
        command.signal,
      );
    } catch (err) {
      // A refused or unreachable endpoint may be gone or replaced: look it up afresh next time.
      if (instance.vpcId) endpointDirectory(ec2, settings.endpointIds).forget(instance.vpcId);
      throw err;
    }
    logger.info('EC2 Instance Connect Endpoint tunnel open', { ...context, waitedMs: slot.waitedMs });
    return await runOverSsh(bounded, settings, { sock, username: settings.osUser, privateKey: keys.private }, context);
  } finally {
    await slot.release();
  }
}

/** The instance's address and network; WorkspaceUnreachable unless the instance exists and is running. */
async function runningInstance(ec2: EC2Client, { instanceId, signal }: HostCommand): Promise<RunningInstance> {
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
  return {
    ...(instance.PrivateIpAddress && { privateIp: instance.PrivateIpAddress }),
    ...(instance.VpcId && { vpcId: instance.VpcId }),
    ...(instance.SubnetId && { subnetId: instance.SubnetId }),
  };
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
