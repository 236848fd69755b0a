import { randomUUID } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WORKSPACE_ID_RE } from './contract/names.js';
import { ApiError } from './client.js';

/**
 * The workspace token on disk, where the Python client keeps it: `~/.molecule/<workspace>/.auth_token`,
 * the directory 0700 and the file 0600. Writers take a lock file (O_EXCL, so across processes too)
 * and replace the token by rename, so a reader sees the old token or the new one, never half of one.
 */
export const TOKEN_FILE = '.auth_token';
/** A lock older than this was left by a writer that died. */
const STALE_LOCK_MS = 10_000;
const LOCK_WAIT_MS = 5_000;

/** `~/.molecule/<workspace>`: the agent's token and its pulled plugins. */
export function workspaceStateDir(workspaceId: string, home: string = homedir()): string {
  // The id becomes a directory name; anything but the API's workspace id syntax could climb out.
  if (!WORKSPACE_ID_RE.test(workspaceId)) throw new ApiError(0, 'invalid_request', `"${workspaceId}" is not a workspace id`);
  return join(home, '.molecule', workspaceId);
}

export class TokenCache {
  /** Writers in this process queue here rather than spin on the lock file. */
  private static readonly queues = new Map<string, Promise<void>>();

  constructor(readonly dir: string) {}

  get file(): string {
    return join(this.dir, TOKEN_FILE);
  }

  async load(): Promise<string | undefined> {
    try {
      return (await readFile(this.file, 'utf8')).trim() || undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async save(token: string): Promise<void> {
    const value = token.trim();
    if (!value) throw new ApiError(0, 'invalid_request', 'refusing to cache an empty token');
    const previous = TokenCache.queues.get(this.file) ?? Promise.resolve();
    const mine = previous.then(() => this.write(value));
    const settled = mine.catch(() => undefined);
    TokenCache.queues.set(this.file, settled);
    try {
      await mine;
    } finally {
      if (TokenCache.queues.get(this.file) === settled) TokenCache.queues.delete(this.file);
    }
  }

  private async write(token: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is cut by the umask and ignored for a directory that already exists.
    await chmod(this.dir, 0o700);
    const release = await this.lock();
    const temp = join(this.dir, `${TOKEN_FILE}.${randomUUID()}.tmp`);
    try {
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(token);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await chmod(temp, 0o600);
      await rename(temp, this.file);
    } finally {
      await rm(temp, { force: true });
      await release();
    }
  }

  private async lock(): Promise<() => Promise<void>> {
    const path = `${this.file}.lock`;
    for (let waited = 0; ; waited += 20) {
      try {
        await (await open(path, 'wx', 0o600)).close();
        return () => rm(path, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const age = await stat(path).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > STALE_LOCK_MS) await rm(path, { force: true });
      else if (waited >= LOCK_WAIT_MS) throw new ApiError(0, 'token_cache_locked', `${path} has been held by another writer for ${LOCK_WAIT_MS} ms`);
      else await sleep(20);
    }
  }
}
