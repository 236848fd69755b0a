import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import ssh2, { type ParsedKey } from 'ssh2';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTunnel } from '../../../lambdas/delivery/eic-tunnel.js';
import { runOverSsh } from '../../../lambdas/delivery/ssh.js';
import { ed25519KeyPair } from '../../../lambdas/delivery/ssh-keys.js';
import { startSshServer } from '../../../local/eic-ssh-server.js';

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
let endpoint: WebSocketServer;
/** How the endpoint cuts the server's identification line (CRLF included) into messages. */
let cut: (identLine: Buffer) => Buffer[] = (line) => [line];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpd-tunnel-'));
  const key = ssh2.utils.parseKey(keys.public) as ParsedKey;
  server = await startSshServer({
    rootDir: root,
    authorize: (username) => (username === 'ubuntu' ? { instanceId: INSTANCE, osUser: username, key, expiresAt: Date.now() + 60_000 } : undefined),
  });
  endpoint = await cuttingEndpoint(server.port);
});

afterAll(async () => {
  for (const ws of endpoint?.clients ?? []) ws.terminate();
  await new Promise((resolve) => endpoint?.close(resolve));
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

/**
 * Forwards between WebSocket clients and the SSH server, the server's first line as `cut` says,
 * each message a few milliseconds after the last so the client reads each one on its own.
 */
async function cuttingEndpoint(sshPort: number): Promise<WebSocketServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise((resolve) => wss.once('listening', resolve));
  wss.on('connection', (ws) => {
    const tcp = connect(sshPort, '127.0.0.1');
    let head: Buffer | undefined = Buffer.alloc(0);
    let sending = Promise.resolve();
    tcp.on('data', (chunk: Buffer) => {
      let messages = [chunk];
      if (head) {
        head = Buffer.concat([head, chunk]);
        const lineEnd = head.indexOf('\n') + 1;
        if (lineEnd === 0) return;
        messages = [...cut(head.subarray(0, lineEnd)), head.subarray(lineEnd)].filter((m) => m.length > 0);
        head = undefined;
      }
      sending = sending.then(async () => {
        for (const message of messages) {
          ws.send(message, { binary: true });
          await sleep(5);
        }
      });
    });
    ws.on('message', (data: Buffer) => tcp.write(data));
    tcp.on('error', () => ws.terminate());
    tcp.on('close', () => ws.terminate());
    ws.on('close', () => tcp.destroy());
  });
  return wss;
}

async function runThroughTunnel(script: string) {
  const { port } = endpoint.address() as { port: number };
  const sock = await openTunnel(`ws://127.0.0.1:${port}/openTunnel`, timeouts, { instanceId: INSTANCE });
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

  it.each(cuts)("runs a script over SSH when the server's identification line comes %s", async (_, how) => {
    cut = how;
    const result = await runThroughTunnel('echo "through the tunnel"');
    expect(result).toMatchObject({ status: 'Success', exitCode: 0, stdout: 'through the tunnel\n' });
  });
});
