import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HostSpawner, startHostSpawner } from '../../../local/host-process.js';

const KEEP = { stdoutBytes: 1024, stderrBytes: 1024 };

describe('the host spawner (SSM host commands)', () => {
  let root: string;
  let spawner: HostSpawner;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'molecule-spawner-'));
    spawner = startHostSpawner();
  });

  afterAll(async () => {
    await spawner.close();
    await rm(root, { recursive: true, force: true });
  });

  it('runs a command in the instance root and answers with its exit code and output', async () => {
    const run = spawner.run({ root: join(root, 'i-1'), command: 'sh', args: ['-c', 'pwd; echo oops >&2; exit 3'] }, KEEP);
    const { code, stdout, stderr } = await run.exited;
    expect(code).toBe(3);
    expect(stdout.toString().trim()).toBe(join(root, 'i-1'));
    expect(stderr.toString()).toBe('oops\n');
  });

  it('when the spawner dies, the command in flight and every later one fail instead of waiting for ever', async () => {
    const inFlight = spawner.run({ root: join(root, 'i-2'), command: 'sh', args: ['-c', 'sleep 10'] }, KEEP);
    // Let the spawn message arrive before the spawner goes.
    await expect(spawner.run({ root: join(root, 'i-2'), command: 'true', args: [] }, KEEP).exited).resolves.toMatchObject({ code: 0 });
    process.kill(spawner.pid!, 'SIGKILL');
    await expect(inFlight.exited).rejects.toThrow('the host spawner exited');
    await expect(spawner.run({ root: join(root, 'i-2'), command: 'true', args: [] }, KEEP).exited).rejects.toThrow('the host spawner exited');
  });
});
