import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import ssh2, { type ParsedKey } from 'ssh2';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTunnel } from '../../../lambdas/delivery/eic-tunnel.js';
import { runOverSsh } from '../../../lambdas/delivery/ssh.js';
import { ed25519KeyPair } from '../../../lambdas/delivery/ssh-keys.js';
import { startSshServer } from '../../../local/eic-ssh-server.js';
import { listenOnLoopback } from '../../../local/listen.js';

/**
 * The tunnel as ssh2 sees it. An EC2 Instance Connect Endpoint forwards the instance's bytes in
 * WebSocket messages cut wherever it likes; a script still runs over SSH through it. The endpoint
 * here is a stand-in on loopback that only forwards (eice-emulator.ts checks signatures and caps),
 * in front of the local EIC SSH server.
 */
const INSTANCE = 'i-0123456789abcdef0';
const keys = ed25519KeyPair(ssh2.utils);
const timeouts = { openMs: 5_000, idleMs: 10_000, totalMs: 30_000 };

let root: string;
let server: Awaited<ReturnType<typeof startSshServer>>;
let endpoint: { port: number; close(): Promise<void> };
/** How the stand-in endpoint forwards the server's identification line (CRLF included). */
let forwarding: {
  /** The messages it cuts the line into. */
  cut: (identLine: Buffer) => Buffer[];
  /** The first one right behind the handshake answer, in the same tick; else a little later. */
  withAnswer?: boolean;
} = { cut: (line) => [line] };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpd-tunnel-'));
  const key = ssh2.utils.parseKey(keys.public) as ParsedKey;
  server = await startSshServer({
    rootDir: root,
    authorize: (username) => (username === 'ubuntu' ? { instanceId: INSTANCE, osUser: username, key, expiresAt: Date.now() + 60_000 } : undefined),
  });
  endpoint = await standInEndpoint(server.port);
});

afterAll(async () => {
  await endpoint?.close();
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

/**
 * Connects to the SSH server and reads its identification line before it answers the WebSocket
 * handshake (the server speaks first), then forwards both ways, each message a few milliseconds
 * after the last so the client reads each one on its own.
 */
async function standInEndpoint(sshPort: number) {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const http = createServer();
  const tunnels = new Set<Socket>();
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const { cut, withAnswer = false } = forwarding;
    const tcp = connect(sshPort, '127.0.0.1');
    tunnels.add(tcp);
    tcp.on('close', () => tunnels.delete(tcp));
    let early = Buffer.alloc(0);
    const beforeAnswer = (chunk: Buffer) => {
      early = Buffer.concat([early, chunk]);
      const lineEnd = early.indexOf('\n') + 1;
      if (lineEnd === 0) return;
      tcp.off('data', beforeAnswer);
      wss.handleUpgrade(req, socket, head, (ws) => {
        let sending = withAnswer ? Promise.resolve() : sleep(20);
        const send = (messages: Buffer[]) => {
          sending = sending.then(async () => {
            for (const message of messages) {
              ws.send(message, { binary: true });
              await sleep(5);
            }
          });
        };
        const [first, ...rest] = [...cut(early.subarray(0, lineEnd)), early.subarray(lineEnd)].filter((m) => m.length > 0);
        if (withAnswer) ws.send(first!, { binary: true });
        send(withAnswer ? rest : [first!, ...rest]);
        tcp.on('data', (chunk: Buffer) => send([chunk]));
        ws.on('message', (data: Buffer) => tcp.write(data));
        tcp.on('close', () => ws.terminate());
        ws.on('close', () => tcp.destroy());
      });
    };
    tcp.on('data', beforeAnswer);
    tcp.on('error', () => socket.destroy());
  });
  const listening = await listenOnLoopback(http, 0);
  return {
    port: listening.port,
    async close() {
      for (const tcp of tunnels) tcp.destroy();
      wss.close();
      await listening.close();
    },
  };
}

async function runThroughTunnel(script: string) {
  const sock = await openTunnel(`ws://127.0.0.1:${endpoint.port}/openTunnel`, timeouts, { instanceId: INSTANCE });
  return runOverSsh(
    { instanceId: INSTANCE, script, timeoutMs: 10_000 },
    { sshCommand: 'bash -s', hostKeyFingerprints: [server.hostKeyFingerprint], connectTimeoutMs: 5_000 },
    { sock, username: 'ubuntu', privateKey: keys.private },
    { instanceId: INSTANCE },
  );
}

describe('the EC2 Instance Connect Endpoint tunnel', () => {
  const cuts: Array<[string, (line: Buffer) => Buffer[]]> = [
    ['in one message', (line) => [line]],
    ['in three messages', (line) => [line.subarray(0, 8), line.subarray(8, line.length - 2), line.subarray(line.length - 2)]],
    ['one byte per message', (line) => [...line].map((byte) => Buffer.of(byte))],
  ];

  it.each(cuts)("runs a script over SSH when the server's identification line comes %s", async (_, cut) => {
    forwarding = { cut };
    const result = await runThroughTunnel('echo "through the tunnel"');
    expect(result).toMatchObject({ status: 'Success', exitCode: 0, stdout: 'through the tunnel\n' });
  });

  it("runs a script over SSH when the server's first bytes come right behind the handshake answer", async () => {
    forwarding = { cut: (line) => [line], withAnswer: true };
    const result = await runThroughTunnel('echo "through the tunnel"');
    expect(result).toMatchObject({ status: 'Success', exitCode: 0, stdout: 'through the tunnel\n' });
  });
});
