import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOverSsh, type SshRunSettings } from '../../../lambdas/delivery/ssh.js';
import { ed25519KeyPair } from '../../../lambdas/delivery/ssh-keys.js';
import { startSshServer } from '../../../local/eic-ssh-server.js';

/**
 * EC2 Instance Connect on AWS refuses host keys it was not told about: with no fingerprints pinned
 * delivery stops before connecting, unless PLUGIN_EIC_ACCEPT_ANY_HOST_KEY opts in. Against the
 * local SSH server, which accepts no login here, so getting as far as authentication shows the host
 * key was accepted.
 */
let root: string;
let server: Awaited<ReturnType<typeof startSshServer>>;
const command = { instanceId: 'i-0123456789abcdef0', script: 'true', timeoutMs: 5_000 };
const settings = (over: Partial<SshRunSettings>): SshRunSettings => ({ sshCommand: 'bash -s', hostKeyFingerprints: [], connectTimeoutMs: 10_000, ...over });
const target = () => ({ host: '127.0.0.1', port: server.port, username: 'ubuntu', privateKey: ed25519KeyPair(ssh2.utils).private });

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'mpd-hostkey-'));
  server = await startSshServer({ rootDir: root, authorize: () => undefined });
});
afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('EC2 Instance Connect host keys', () => {
  it('refuses to deliver with no fingerprint pinned and no opt-in: delivery_failed "host key not pinned"', async () => {
    await expect(runOverSsh(command, settings({}), target(), { transport: 'eic' })).rejects.toMatchObject({
      code: 'delivery_failed',
      message: expect.stringMatching(/^host key not pinned: set PLUGIN_EIC_HOST_KEY_FINGERPRINTS/),
      details: { transport: 'eic' },
    });
  });

  it('refuses a host whose key is not one of the pinned fingerprints', async () => {
    await expect(runOverSsh(command, settings({ hostKeyFingerprints: [`SHA256:${'A'.repeat(43)}`] }), target(), {})).rejects.toMatchObject({
      code: 'delivery_failed',
      message: 'the workspace instance presented a host key that is not one of the configured fingerprints',
    });
  });

  it('accepts the pinned key, or any key when PLUGIN_EIC_ACCEPT_ANY_HOST_KEY says so (and then goes on to log in)', async () => {
    for (const over of [{ hostKeyFingerprints: [server.hostKeyFingerprint] }, { acceptAnyHostKey: true }]) {
      await expect(runOverSsh(command, settings(over), target(), {})).rejects.toMatchObject({
        code: 'workspace_unreachable',
        message: 'the workspace instance refused the EC2 Instance Connect key',
      });
    }
  });
});
