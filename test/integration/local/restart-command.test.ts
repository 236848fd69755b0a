import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHostResult } from '../../../lambdas/delivery/host-command.js';
import { restartScript } from '../../../lambdas/delivery/host-scripts.js';
import { LOCAL_RESTART_COMMAND } from '../../../local/instances.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'molecule-restart-command-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Runs the restart script as a host would, in a time zone far from UTC. */
function restart(workspaceId: string) {
  const run = spawnSync('bash', ['-c', restartScript({ workspaceId, command: LOCAL_RESTART_COMMAND })], {
    env: { PATH: process.env.PATH, MOLECULE_HOST_ROOT: root, TZ: 'Asia/Tokyo' },
    encoding: 'utf8',
  });
  return { status: run.status, result: parseHostResult(run.stdout) };
}

/** Now as `date -u +%Y-%m-%dT%H:%M:%SZ` prints it. */
const utcSeconds = () => `${new Date().toISOString().slice(0, 19)}Z`;

describe('the local restart command', () => {
  it('appends "<UTC time> restart <workspace id>" to var/log/molecule-restarts.log, making the directory once', async () => {
    const before = utcSeconds();
    expect(restart('ws-1')).toEqual({ status: 0, result: { ok: true, action: 'restarted' } });
    expect(restart("ws-'2' %s\\n")).toEqual({ status: 0, result: { ok: true, action: 'restarted' } });
    const after = utcSeconds();

    const lines = (await readFile(join(root, 'var', 'log', 'molecule-restarts.log'), 'utf8')).split('\n');

    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ restart ws-1$/);
    expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ restart ws-'2' %s\\n$/);
    for (const line of lines.slice(0, 2)) {
      const at = line.slice(0, 20);
      expect(at >= before && at <= after).toBe(true);
    }
  });
});
