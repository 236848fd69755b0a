import { createHash } from 'node:crypto';
import type { ClientChannel, ConnectConfig } from 'ssh2';
import { DeliveryFailed, WorkspaceUnreachable } from '../shared/errors.js';
import { HostCommandFailed, parseHostResult, sanitizedTail, type HostCommand, type HostCommandResult } from './host-command.js';

/**
 * Runs a host script over SSH (`ssh2`), whoever arranged the login (EC2 Instance Connect on AWS,
 * see eic.ts; the local EIC emulator shares `fingerprint`).
 *
 * - The script goes on the SSH channel's stdin, wrapped in `{ }`: bash parses the whole group
 *   before running any of it, so nothing the script runs can read the rest of the script as its
 *   input, and a transfer cut short runs nothing. The exec line is configuration only
 *   (`sshCommand`, e.g. `sudo -n bash -s`), under coreutils `timeout`, so the host stops the
 *   script on its own, like SSM's `executionTimeout`, even when the connection is lost.
 * - Host key: with fingerprints configured only those keys are accepted; with none, no key is
 *   (delivery_failed "host key not pinned") unless `acceptAnyHostKey` is set (see eic.ts).
 * - `ssh2` is loaded on first use, so the SSM path never pays for it.
 */
export interface SshRunSettings {
  /** Run by the SSH user; reads the script on stdin and runs it as root. */
  sshCommand: string;
  /** `SHA256:<base64>` host key fingerprints to accept; empty accepts none unless `acceptAnyHostKey`. */
  hostKeyFingerprints: readonly string[];
  /** `PLUGIN_EIC_ACCEPT_ANY_HOST_KEY=true`: with no fingerprints pinned, accept whatever key the host shows. */
  acceptAnyHostKey?: boolean;
  /** TCP connect, SSH handshake and authentication. */
  connectTimeoutMs?: number;
  /** How long past the command's timeout to wait for the host before giving up. */
  graceMs?: number;
}

/** A host and port to connect to, or a stream already connected to the SSH server (an EC2 Instance Connect Endpoint tunnel). */
export type SshTarget = Required<Pick<ConnectConfig, 'username' | 'privateKey'>> &
  (Required<Pick<ConnectConfig, 'host' | 'port'>> | { sock: NonNullable<ConnectConfig['sock']> });

const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;
const DEFAULT_GRACE_MS = 15_000;
/** Host scripts print one result line to stdout; stderr is kept only for a log tail. */
const OUTPUT_LIMIT_BYTES = 64 * 1024;
/** What coreutils `timeout` exits with when it stopped the command. */
const TIMEOUT_EXIT_CODE = 124;

/**
 * Runs the script over one SSH connection, always closed before this settles. `context` goes into
 * every error's details. Throws WorkspaceUnreachable when no session could be started,
 * HostCommandFailed when the script failed or timed out, DeliveryFailed for the rest.
 */
export async function runOverSsh(
  { script, timeoutMs, deadline: stopWaitingAt, signal }: HostCommand,
  settings: SshRunSettings,
  target: SshTarget,
  context: Record<string, unknown>,
): Promise<HostCommandResult> {
  const { Client } = (await import('ssh2')).default;
  const connectTimeoutMs = settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const executionSeconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  const execLine = `timeout --kill-after=10s ${executionSeconds}s ${settings.sshCommand}`;
  const accepted = new Set(settings.hostKeyFingerprints);
  if (accepted.size === 0 && !settings.acceptAnyHostKey) {
    throw new DeliveryFailed(
      "host key not pinned: set PLUGIN_EIC_HOST_KEY_FINGERPRINTS (context eicHostKeyFingerprints) to the instances' host key fingerprints, or PLUGIN_EIC_ACCEPT_ANY_HOST_KEY=true to accept any",
      context,
    );
  }

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

    // Failing destroys the connection, which closes the channel; the host's `timeout` then stops the script.
    const deadline = setTimeout(
      () => {
        fail(
          started
            ? new DeliveryFailed('timed out waiting for the workspace to finish the delivery command', context)
            : new WorkspaceUnreachable('timed out connecting to the workspace instance over SSH', context),
        );
      },
      Math.min(connectTimeoutMs + timeoutMs + (settings.graceMs ?? DEFAULT_GRACE_MS), (stopWaitingAt ?? Infinity) - Date.now()),
    );
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
      fail(
        new HostCommandFailed(timedOut ? 'the delivery command timed out on the workspace' : 'the delivery command failed on the workspace', context, {
          status: timedOut ? 'TimedOut' : 'Failed',
          exitCode,
          ...(exit.signal && { exitSignal: exit.signal }),
          hostResult: parseHostResult(out),
          outputTail: sanitizedTail(err),
        }),
      );
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
        if ((accepted.size === 0 && settings.acceptAnyHostKey) || accepted.has(fingerprint(key))) return true;
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
