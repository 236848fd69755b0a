import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { healthScript, installScript, restartScript, uninstallScript } from '../../../lambdas/delivery/host-scripts.js';
import { shellQuote } from '../../../lambdas/delivery/shell.js';
import { HOST_SCRIPT_PATTERN } from '../../../infra/constructs/host-command-document.js';

describe('host script builders', () => {
  const install = {
    configDir: '/configs',
    pluginName: 'acme.tools',
    tarballUrl: 'https://bucket.s3.amazonaws.com/k?X-Amz-Signature=abc',
    ts: '20240101T000000000Z',
  };
  const health = {
    configDir: '/configs',
    plugins: [{ name: 'acme.tools', skills: ['s1'] }],
    workspaceId: 'ws-1',
    command: 'docker inspect ws-{workspaceId}',
    timeoutSeconds: 60,
    restartCommand: 'docker restart ws-{workspaceId}',
    restartTimeoutSeconds: 300,
  };

  it('produce scripts bash accepts', () => {
    for (const script of [
      installScript(install),
      uninstallScript({ configDir: '/home/ubuntu/.hermes', pluginName: 'acme.tools', skills: ['s1', 's2'] }),
      restartScript({ workspaceId: 'ws-1', command: 'docker restart ws-{workspaceId}' }),
      restartScript({ workspaceId: 'ws-1', command: 'docker restart ws-{workspaceId}', configDir: '/opt/configs' }),
      healthScript(health),
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

  it('give the restart command the config dir when the caller names one', () => {
    expect(restartScript({ workspaceId: 'ws-1', command: 'true', configDir: '/opt/configs/' })).toContain("CONFIG_PATH='/opt/configs'\n");
    expect(restartScript({ workspaceId: 'ws-1', command: 'true' })).not.toContain('CONFIG_PATH=');
    expect(() => restartScript({ workspaceId: 'ws-1', command: 'true', configDir: '../etc' })).toThrow(/config dir/);
  });

  it('put the health check in as one quoted value, the workspace id quoted inside it, and whole seconds', () => {
    const script = healthScript({ ...health, workspaceId: "ws'1", timeoutSeconds: 2.5 });

    expect(script).toContain(`HEALTH_COMMAND=${shellQuote(`docker inspect ws-${shellQuote("ws'1")}`)}\n`);
    expect(script).toContain("TIMEOUT_SECONDS='3'\n");
    expect(script).toContain(`UNINSTALL_SCRIPTS=(${shellQuote(uninstallScript({ configDir: '/configs', pluginName: 'acme.tools', skills: ['s1'] }))})\n`);
  });

  it('refuse a health gate for an invalid plugin name', () => {
    expect(() => healthScript({ ...health, plugins: [{ name: '../x' }] })).toThrow(/plugin name/);
    expect(() => healthScript({ ...health, plugins: [] })).toThrow(/plugins the change delivered/);
  });

  it('frame the health gate as the SSM document admits it', () => {
    expect(`exec bash -c ${shellQuote(healthScript(health))} molecule-delivery`).toMatch(new RegExp(HOST_SCRIPT_PATTERN));
  });
});
