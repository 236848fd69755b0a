import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { installScript, restartScript, uninstallScript } from '../../../lambdas/delivery/host-scripts.js';

describe('host script builders', () => {
  const install = {
    configDir: '/configs',
    pluginName: 'acme.tools',
    tarballUrl: 'https://bucket.s3.amazonaws.com/k?X-Amz-Signature=abc',
    ts: '20240101T000000000Z',
  };

  it('produce scripts bash accepts', () => {
    for (const script of [
      installScript(install),
      uninstallScript({ configDir: '/home/ubuntu/.hermes', pluginName: 'acme.tools', skills: ['s1', 's2'] }),
      restartScript({ workspaceId: 'ws-1', command: 'docker restart ws-{workspaceId}' }),
    ]) {
      expect(() => execFileSync('bash', ['-n', '-c', script])).not.toThrow();
    }
  });

  it('quote the tarball URL so its characters reach curl literally', () => {
    const tarballUrl = "https://example.com/a'b$(touch x)`y`?q=1&r=2";

    expect(installScript({ ...install, tarballUrl })).toContain(`TARBALL_URL='https://example.com/a'\\''b$(touch x)\`y\`?q=1&r=2'`);
  });

  it.each([
    ['a plugin name with a path', { pluginName: '../etc' }],
    ['a plugin name with a quote', { pluginName: "x'y" }],
    ['a relative config dir', { configDir: 'configs' }],
    ['a config dir that climbs', { configDir: '/configs/../etc' }],
    ['a staging stamp with a slash', { ts: '2024/01' }],
    ['a non-HTTP URL', { tarballUrl: 'file:///etc/shadow' }],
  ])('refuse %s', (_label, override) => {
    expect(() => installScript({ ...install, ...override })).toThrow();
  });

  it('refuses an invalid skill name from the caller', () => {
    expect(() => uninstallScript({ configDir: '/configs', pluginName: 'acme.tools', skills: ['../x'] })).toThrow(/skill name/);
  });

  it('substitutes the quoted workspace id into the restart command', () => {
    const script = restartScript({ workspaceId: "ws'; reboot; '", command: 'docker restart ws-{workspaceId} && echo {workspaceId}' });

    expect(script).toContain(`docker restart ws-'ws'\\''; reboot; '\\''' && echo 'ws'\\''; reboot; '\\'''`);
  });
});
