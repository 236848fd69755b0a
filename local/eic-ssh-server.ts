import type { ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import ssh2, { type Connection, type ParsedKey } from 'ssh2';
import { fingerprint } from '../lambdas/delivery/ssh.js';
import { ed25519KeyPair } from '../lambdas/delivery/ssh-keys.js';
import { killGroup, spawnOnHost, stopHostProcess } from './host-process.js';
import { LOOPBACK } from './ec2-emulator.js';

/**
 * The SSH server of the EIC emulator (ssh2, host key made at start) on loopback. A client
 * authenticates with a key `authorize` accepts, as the user it was pushed for; the key says which
 * instance it is on. `exec` runs the command line with `bash -c` in that instance's root as the
 * current user (host-process.ts): stdin, stdout, stderr and the exit status go over the channel.
 */
export interface SshGrant {
  instanceId: string;
  osUser: string;
  key: ParsedKey;
  expiresAt: number;
}

export interface SshServerOptions {
  rootDir: string;
  /** The pushed key a client may log in with, or undefined. */
  authorize: (username: string, algo: string, blob: Buffer) => SshGrant | undefined;
}

export async function startSshServer({ rootDir, authorize }: SshServerOptions): Promise<{ port: number; hostKeyFingerprint: string; close(): Promise<void> }> {
  const hostKey = ed25519KeyPair(ssh2.utils);
  const parsedHostKey = ssh2.utils.parseKey(hostKey.public) as ParsedKey;
  const connections = new Set<Connection>();
  const processes = new Set<ChildProcess>();

  let port = 0;
  const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (client, peer) => {
    connections.add(client);
    let grant: SshGrant | undefined;
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
        session.on('exec', (accept, reject, info) => {
          if (!grant) return reject();
          const channel = accept();
          const child = spawnOnHost({
            root: join(rootDir, grant.instanceId),
            command: 'bash',
            args: ['-c', info.command],
            stdin: 'pipe',
            // What sshd sets, so a command can tell it came over SSH.
            env: { USER: grant.osUser, LOGNAME: grant.osUser, SSH_CONNECTION: `${peer.ip} ${peer.port} ${LOOPBACK} ${port}` },
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
