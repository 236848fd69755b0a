import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
