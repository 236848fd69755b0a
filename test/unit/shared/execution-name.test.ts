import { describe, expect, it } from 'vitest';
import { consoleUrlFor, EXECUTION_NAME_MAX, executionName } from '../../../lambdas/shared/execution-name.js';

const ID = '3f9a1c2e-7b44-4d0e-9a55-0123456789ab';
const ALLOWED = /^[A-Za-z0-9_-]+$/;

describe('executionName', () => {
  it('says what the execution does: kind, workspace, plugin and the first 8 hex of the operation id', () => {
    expect(executionName({ kind: 'install', workspaceId: 'ws-1', plugin: 'code-review-rules', operationId: ID })).toBe(
      'install-ws-1-code-review-rules-3f9a1c2e',
    );
    expect(executionName({ kind: 'uninstall', workspaceId: 'ws-1', plugin: 'hello-skill', operationId: ID })).toBe('uninstall-ws-1-hello-skill-3f9a1c2e');
  });

  it('names a verify or a repair by its workspace alone: it is about the whole host', () => {
    expect(executionName({ kind: 'verify', workspaceId: 'ws-1', plugin: null, operationId: ID })).toBe('verify-ws-1-3f9a1c2e');
    const long = executionName({ kind: 'repair', workspaceId: 'w'.repeat(120), plugin: null, operationId: ID });
    expect(long).toMatch(/^repair-w+-3f9a1c2e$/);
    expect(long.length).toBeLessThanOrEqual(EXECUTION_NAME_MAX);
  });

  it('replaces characters Step Functions does not take, keeping the name readable', () => {
    const name = executionName({ kind: 'install', workspaceId: 'acme.prod_ws', plugin: 'lint.rules..v2', operationId: ID });
    expect(name).toBe('install-acme-prod_ws-lint-rules-v2-3f9a1c2e');
    expect(name).toMatch(ALLOWED);
  });

  it('names an install whose plugin is not known yet "plugin"', () => {
    expect(executionName({ kind: 'install', workspaceId: 'ws-1', plugin: null, operationId: ID })).toBe('install-ws-1-plugin-3f9a1c2e');
  });

  it('shortens long workspace and plugin names to 80 characters, always keeping the 8 hex', () => {
    const long = (c: string) => c.repeat(128);
    for (const [workspaceId, plugin] of [
      [long('w'), long('p')],
      [long('w'), 'short'],
      ['short', long('p')],
      ['w'.repeat(40), 'p'.repeat(40)],
    ] as const) {
      for (const kind of ['install', 'uninstall'] as const) {
        const name = executionName({ kind, workspaceId, plugin, operationId: ID });
        expect(name.length, name).toBeLessThanOrEqual(EXECUTION_NAME_MAX);
        expect(name).toMatch(ALLOWED);
        expect(name.startsWith(`${kind}-`)).toBe(true);
        expect(name.endsWith('-3f9a1c2e')).toBe(true);
      }
    }
    // A short part is kept whole; the long one gives way.
    expect(executionName({ kind: 'install', workspaceId: 'short', plugin: 'p'.repeat(128), operationId: ID })).toContain('-short-');
    expect(executionName({ kind: 'install', workspaceId: 'w'.repeat(128), plugin: 'lint', operationId: ID })).toMatch(/-lint-3f9a1c2e$/);
  });

  it('gives two operations on the same plugin different names, by their ids', () => {
    const a = executionName({ kind: 'install', workspaceId: 'ws-1', plugin: 'demo', operationId: ID });
    const b = executionName({ kind: 'install', workspaceId: 'ws-1', plugin: 'demo', operationId: 'a0b1c2d3-0000-4000-8000-000000000000' });
    expect(a).not.toBe(b);
    expect(b).toBe('install-ws-1-demo-a0b1c2d3');
  });
});

describe('consoleUrlFor', () => {
  it("links an execution to its page in the AWS console of the ARN's region and partition", () => {
    const arn = 'arn:aws:states:eu-west-1:123456789012:execution:molecule-plugin-delivery:install-ws-1-demo-3f9a1c2e';
    expect(consoleUrlFor(arn)).toBe(`https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${arn}`);
    expect(consoleUrlFor('arn:aws-cn:states:cn-north-1:123456789012:execution:m:x')).toMatch(/^https:\/\/cn-north-1\.console\.amazonaws\.cn\//);
  });

  it('has no link for the local engine, a missing ARN or something that is not an execution ARN', () => {
    expect(consoleUrlFor('arn:aws:states:us-east-1:000000000000:execution:molecule-plugin-delivery:install-ws-1-demo-3f9a1c2e')).toBeNull();
    expect(consoleUrlFor(null)).toBeNull();
    expect(consoleUrlFor('arn:aws:states:us-east-1:123456789012:stateMachine:m')).toBeNull();
    expect(consoleUrlFor('not-an-arn')).toBeNull();
  });
});
