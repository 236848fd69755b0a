import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from './database.js';
import { spawnLocalStack, type SpawnedStack } from './spawn-local-stack.js';

/**
 * A `tar` for the emulated hosts that waits while it is held, so a fault (`kill -9` of the stack,
 * a database outage) lands while host commands are inside Deliver. Put `path` first on the stack's
 * PATH; each run says it got there before it waits.
 */
export interface HeldTar {
  /** The PATH value that puts this `tar` first. */
  path: string;
  hold(): Promise<void>;
  release(): Promise<void>;
  /** How many host commands have reached it so far. */
  reached(): Promise<number>;
  close(): Promise<void>;
}

export async function heldTar(prefix: string): Promise<HeldTar> {
  const dir = await mkdtemp(join(tmpdir(), `molecule-${prefix}-`));
  const tar = execFileSync('sh', ['-c', 'command -v tar'], { encoding: 'utf8' }).trim();
  const script = `#!/bin/sh\ntouch "${dir}/reached.$$"\nwhile [ -e '${dir}/hold' ]; do sleep 0.1; done\nexec ${tar} "$@"\n`;
  await writeFile(join(dir, 'tar'), script, { mode: 0o755 });
  const release = () => rm(join(dir, 'hold'), { force: true });
  return {
    path: `${dir}:${process.env.PATH ?? ''}`,
    hold: () => writeFile(join(dir, 'hold'), ''),
    release,
    reached: async () => (await readdir(dir)).filter((f) => f.startsWith('reached.')).length,
    close: async () => {
      await release();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * What a `kill -9` test runs: `npm start`'s process on a database of its own (when `DATABASE_URL`
 * names a server), its hosts running the held `tar`, reconciling within seconds; `restart` starts
 * it again on the killed one's state, and `close` stops whichever runs last and cleans up.
 */
export interface KillableStack {
  tar: HeldTar;
  stack: SpawnedStack;
  restart(killed: SpawnedStack): Promise<SpawnedStack>;
  close(): Promise<void>;
}

export async function killableStack(prefix: string): Promise<KillableStack> {
  const tar = await heldTar(prefix);
  const database = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
  const env = { DATABASE_URL: database?.url, PATH: tar.path, PLUGIN_RECONCILE_AFTER: '2s', PLUGIN_RECONCILE_INTERVAL: '1s' };
  const harness: KillableStack = {
    tar,
    stack: await spawnLocalStack(env),
    async restart(killed) {
      harness.stack = await spawnLocalStack(env, { localDir: killed.localDir, adminToken: killed.adminToken });
      return harness.stack;
    },
    async close() {
      await tar.release();
      await harness.stack.stop();
      await database?.close();
      await tar.close();
    },
  };
  return harness;
}
