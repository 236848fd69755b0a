import { createHash } from 'node:crypto';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EC2InstanceConnectClient } from '@aws-sdk/client-ec2-instance-connect';
import type { Client as SshClient, ClientChannel, ConnectConfig } from 'ssh2';
import { DeliveryFailed, WorkspaceUnreachable } from '../shared/errors.js';
import { ed25519KeyPair } from './ssh-keys.js';
import { parseHostResult, sanitizedTail, type HostCommand, type HostCommandResult } from './host-command.js';

/**
 * EC2 Instance Connect delivery (SPEC §5): look the instance up in EC2, push a fresh one-time
 * ed25519 public key with `SendSSHPublicKey` (EC2 Instance Connect honours it for 60 s), then SSH
 * to the instance's private IP as that user and run the host script.
 *
 * - The script goes on the SSH channel's stdin, wrapped in `{ }`: bash parses the whole group
 *   before running any of it, so nothing the script runs can read the rest of the script as its
 *   input, and a transfer cut short runs nothing. The exec line is configuration only
 *   (`PLUGIN_EIC_SSH_COMMAND`, default `sudo -n bash -s`), under coreutils `timeout`, so the host
 *   stops the script on its own, like SSM's `executionTimeout`, even when the connection is lost.
 * - Host key: an instance's host key is not known to us in advance. With
 *   `PLUGIN_EIC_HOST_KEY_FINGERPRINTS` set, only those keys are accepted; otherwise any key is, as
 *   the connection stays inside the VPC and its only secret, the presigned URL in the script,
 *   expires within minutes.
 * - `ssh2` and the EC2 clients are loaded here on first use, so the SSM path never pays for them.
 */
export interface EicSettings {
  osUser: string;
  sshPort: number;
  /** Connect here instead of the instance's private IP (the local emulator, a fixed forwarder). */
  sshHost?: string;
  /** Run by the SSH user; reads the script on stdin and runs it as root. */
  sshCommand: string;
  /** `SHA256:<base64>` host key fingerprints to accept; empty accepts any. */
  hostKeyFingerprints: readonly string[];
  /** TCP connect, SSH handshake and authentication; well within the key's 60 s. */
  connectTimeoutMs?: number;
  /** How long past the command's timeout to wait for the host before giving up. */
  graceMs?: number;
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

const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;
const DEFAULT_GRACE_MS = 15_000;
/** Host scripts print one result line to stdout; stderr is kept only for a log tail. */
const OUTPUT_LIMIT_BYTES = 64 * 1024;
/** What coreutils `timeout` exits with when it stopped the command. */
const TIMEOUT_EXIT_CODE = 124;

const UNREACHABLE_INSTANCE = new Set([
  'EC2InstanceNotFoundException',
  'EC2InstanceStateInvalidException',
  'EC2InstanceUnavailableException',
]);

export async function runViaEic(deps: EicDeps | undefined, command: HostCommand): Promise<HostCommandResult> {
  const context = { instanceId: command.instanceId, transport: 'eic' };
  if (!deps) throw new DeliveryFailed('EC2 Instance Connect delivery is not configured', context);
  const { settings } = deps;
  const { ec2, eic } = await deps.clients();

  const privateIp = await runningInstanceAddress(ec2, command);
  const host = settings.sshHost ?? privateIp;
  if (!host) throw new WorkspaceUnreachable('the workspace instance has no private IP address to connect to', context);

  const ssh2 = (await import('ssh2')).default;
  const keys = ed25519KeyPair(ssh2.utils);
  await pushKey(eic, command, settings.osUser, keys.public);
  return runOverSsh(ssh2.Client, command, settings, {
    host,
    port: settings.sshPort,
    username: settings.osUser,
    privateKey: keys.private,
  });
}

/** The instance's private IP; WorkspaceUnreachable unless the instance exists and is running. */
async function runningInstanceAddress(ec2: EC2Client, { instanceId, signal }: HostCommand): Promise<string | undefined> {
  const { DescribeInstancesCommand } = await import('@aws-sdk/client-ec2');
  const context = { instanceId, transport: 'eic' };
  let instance;
  try {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: signal });
    instance = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
  } catch (err) {
    if (errorName(err)?.startsWith('InvalidInstanceID.')) {
      throw new WorkspaceUnreachable('the workspace instance does not exist', context, { cause: err });
    }
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
    if (name === 'AuthException' || name === 'AccessDeniedException') {
      throw new DeliveryFailed('the delivery service is not allowed to use EC2 Instance Connect on the workspace instance', details, { cause: err });
    }
    if (name === 'InvalidArgsException') {
      throw new DeliveryFailed('EC2 Instance Connect refused the delivery key for the workspace instance', details, { cause: err });
    }
    throw new DeliveryFailed('could not push a key to the workspace instance through EC2 Instance Connect', details, { cause: err });
  }
}

/** Runs the script over one SSH connection, always closed before this settles. */
function runOverSsh(
  Client: new () => SshClient,
  { instanceId, script, timeoutMs, signal }: HostCommand,
  settings: EicSettings,
  target: Pick<ConnectConfig, 'host' | 'port' | 'username' | 'privateKey'>,
): Promise<HostCommandResult> {
  const context = { instanceId, transport: 'eic' };
  const connectTimeoutMs = settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const executionSeconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  const execLine = `timeout --kill-after=10s ${executionSeconds}s ${settings.sshCommand}`;
  const accepted = new Set(settings.hostKeyFingerprints);

  return new Promise((resolve, reject) => {
    const conn = new Client();
    const stdout = new OutputTail(OUTPUT_LIMIT_BYTES);
    const stderr = new OutputTail(OUTPUT_LIMIT_BYTES);
    let hostKeyRejected = false;
    let started = false;
    let exit: { code: number | null; signal?: string } | undefined;
    let settled = false;

    const settle = (outcome: { result: HostCommandResult } | { error: Error }) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      signal?.removeEventListener('abort', onAbort);
      if ('result' in outcome) {
        conn.end();
        resolve(outcome.result);
      } else {
        conn.destroy();
        reject(outcome.error);
      }
    };
    const fail = (error: Error) => settle({ error });

    const deadline = setTimeout(() => {
      fail(
        started
          ? new DeliveryFailed('timed out waiting for the workspace to finish the delivery command', context)
          : new WorkspaceUnreachable('timed out connecting to the workspace instance over SSH', context),
      );
    }, connectTimeoutMs + timeoutMs + (settings.graceMs ?? DEFAULT_GRACE_MS));
    const onAbort = () => fail(new DeliveryFailed('the delivery command was aborted', context, { cause: signal?.reason }));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });

    const finished = () => {
      if (!exit) {
        return fail(new DeliveryFailed('the SSH connection to the workspace closed before the delivery command finished', context));
      }
      const out = stdout.text();
      const err = stderr.text();
      const exitCode = exit.code ?? -1;
      if (exitCode === 0) return settle({ result: { status: 'Success', stdout: out, stderr: err, exitCode } });
      const timedOut = exitCode === TIMEOUT_EXIT_CODE;
      const details = {
        ...context,
        status: timedOut ? 'TimedOut' : 'Failed',
        exitCode,
        ...(exit.signal && { exitSignal: exit.signal }),
        hostResult: parseHostResult(out),
        outputTail: sanitizedTail(err),
      };
      fail(new DeliveryFailed(timedOut ? 'the delivery command timed out on the workspace' : 'the delivery command failed on the workspace', details));
    };

    const run = (channel: ClientChannel) => {
      started = true;
      channel.on('data', (chunk: Buffer) => stdout.push(chunk));
      channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      channel.on('exit', (code: number | null, signalName?: string) => {
        exit = { code, ...(signalName && { signal: signalName }) };
      });
      channel.on('close', finished);
      channel.end(`{\n${script}\n}\n`);
    };

    conn.on('ready', () => {
      conn.exec(execLine, (err, channel) => {
        if (err) return fail(new DeliveryFailed('the workspace instance refused to run the delivery command', context, { cause: err }));
        run(channel);
      });
    });
    conn.on('error', (err: Error & { level?: string; code?: string }) => fail(connectionError(err, { started, hostKeyRejected }, context)));
    conn.on('close', () => {
      if (started) finished();
      else fail(new WorkspaceUnreachable('the workspace instance closed the SSH connection', context));
    });

    conn.connect({
      ...target,
      readyTimeout: connectTimeoutMs,
      keepaliveInterval: 15_000,
      hostVerifier: (key: Buffer) => {
        if (accepted.size === 0 || accepted.has(fingerprint(key))) return true;
        hostKeyRejected = true;
        return false;
      },
    });
  });
}

function connectionError(
  err: Error & { level?: string; code?: string },
  { started, hostKeyRejected }: { started: boolean; hostKeyRejected: boolean },
  context: Record<string, unknown>,
): Error {
  const details = { ...context, sshError: err.level, ...(err.code && { errno: err.code }) };
  if (hostKeyRejected) {
    return new DeliveryFailed('the workspace instance presented a host key that is not one of the configured fingerprints', details, { cause: err });
  }
  if (started) return new DeliveryFailed('the SSH connection to the workspace was lost during the delivery command', details, { cause: err });
  if (err.level === 'client-authentication') {
    return new WorkspaceUnreachable('the workspace instance refused the EC2 Instance Connect key', details, { cause: err });
  }
  if (err.level === 'client-timeout') return new WorkspaceUnreachable('timed out connecting to the workspace instance over SSH', details, { cause: err });
  return new WorkspaceUnreachable('could not connect to the workspace instance over SSH', details, { cause: err });
}

/** OpenSSH's `SHA256:<unpadded base64>` fingerprint of a raw public key blob. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** Keeps the last `limit` bytes of a stream. */
class OutputTail {
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.chunks.length > 1 && this.bytes - this.chunks[0]!.length >= this.limit) {
      this.bytes -= this.chunks.shift()!.length;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}
