import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { useSharedLocalStack } from '../support/local-stack.js';

/**
 * The README's first install, as a new user follows it: `npm start` prints ready-to-paste
 * commands, and each works pasted into a shell as printed. It is also the e2e smoke test of the
 * embedded-database pass in `.ci/run` (`npm run test:embedded`).
 */
const stack = useSharedLocalStack();
const run = promisify(execFile);

/** The printed command line that starts with `start`, trimmed. */
function printed(start: string): string {
  const banner = stack.output();
  const line = banner
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith(start));
  expect(line, `no printed line starts with "${start}":\n${banner}`).toBeDefined();
  return line!;
}

/** Runs a printed line in a shell, from where `npm start` ran (its paths may be relative to it). */
async function paste(line: string): Promise<string> {
  const { stdout } = await run('sh', ['-c', line], { cwd: process.cwd(), timeout: 60_000 });
  return stdout;
}

describe("the README's first install", () => {
  it('installs code-review-rules into ws-demo with the printed curl; the printed ls, cat and list show it', async () => {
    const installCommand = printed('curl -s -X POST');
    expect(installCommand).toContain('/workspaces/ws-demo/plugins');
    let op = JSON.parse(await paste(installCommand));
    // `Prefer: wait=20` may run out on a loaded machine: then follow the operation, as a client does.
    for (let i = 0; i < 600 && op.status === 'installing'; i++) {
      await sleep(100);
      op = (await stack.call('GET', op.statusUrl, { token: stack.adminToken })).body;
    }
    expect(op).toMatchObject({ plugin: 'code-review-rules' });
    expect(['installed', 'SUCCEEDED']).toContain(op.status);

    const shown = await paste(printed('ls '));
    expect(shown.split('\n')).toEqual(expect.arrayContaining(['plugin.yaml', 'rules']));
    expect(shown).toMatch(/ restart ws-demo$/m);

    const listed = JSON.parse(await paste(printed(`curl -s ${stack.url}/workspaces/ws-demo/plugins `)));
    expect(listed).toEqual([expect.objectContaining({ name: 'code-review-rules', source: 'local://code-review-rules' })]);
  });
});
