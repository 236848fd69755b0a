import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, inject } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';
import { callStack, spawnLocalStack, type SpawnedStack } from './spawn-local-stack.js';

export { spawnLocalStack, type SpawnedStack } from './spawn-local-stack.js';

type StackEnv = Record<string, string | undefined>;

/**
 * One local stack per test file: registers the `beforeAll` that starts it (on a fresh database
 * when `DATABASE_URL` names a server, else embedded) and the `afterAll` that stops it. The
 * returned handle reads the running stack, so tests use it as they would the stack itself. `env`
 * may be a function when it needs something an earlier `beforeAll` started. A file that needs
 * nothing but the default environment uses `useSharedLocalStack()` instead: each start costs
 * several seconds of CPU.
 */
export function useLocalStack(env: StackEnv | (() => StackEnv) = {}): SpawnedStack {
  let spawned: SpawnedStack | undefined;
  let database: TestDatabase | undefined;
  const running = (): SpawnedStack => {
    if (!spawned) throw new Error('the local stack is not running: use it inside a test or a later beforeAll');
    return spawned;
  };

  beforeAll(async () => {
    database = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
    spawned = await spawnLocalStack({ DATABASE_URL: database?.url, ...(typeof env === 'function' ? env() : env) });
  }, 150_000);

  afterAll(async () => {
    await spawned?.stop();
    await database?.close();
  });

  return {
    get url() {
      return running().url;
    },
    get adminToken() {
      return running().adminToken;
    },
    get localDir() {
      return running().localDir;
    },
    output: () => running().output(),
    call: (method, path, opts) => running().call(method, path, opts),
    stop: () => running().stop(),
    kill: () => running().kill(),
  };
}

/** Where the shared stack is, once started: written by test/support/shared-stack-setup.ts. */
export interface SharedStackState {
  url: string;
  adminToken: string;
  localDir: string;
  outputFile: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The file test/support/shared-stack-setup.ts writes the shared stack's state (or its failure) to. */
    sharedLocalStack: { stateFile: string } | null;
  }
}

/** How long a test file waits for the shared stack that the e2e global setup is starting. */
const SHARED_START_WAIT_MS = 150_000;

/**
 * The run's one local stack in the default environment (no faults, no stand-ins, default
 * settings), started by test/support/shared-stack-setup.ts while other tests run, and shared by
 * every e2e file that calls this instead of `useLocalStack()`. Such a file must keep to its own
 * orgs, workspaces and instances, must not stop, fault or reconfigure the stack, and must not
 * assert on anything global (every operation, every workspace). `output()` is everything the
 * stack printed so far, the banner first. The handle reads the stack once a `beforeAll` found it.
 */
export function useSharedLocalStack(): SpawnedStack {
  let state: SharedStackState | undefined;
  const running = (): SharedStackState => {
    if (!state) throw new Error('the shared local stack is not known yet: use it inside a test or a later beforeAll');
    return state;
  };
  let call: SpawnedStack['call'] | undefined;

  beforeAll(async () => {
    const provided = inject('sharedLocalStack');
    if (!provided) throw new Error('no shared local stack in this run: test/support/shared-stack-setup.ts must be a globalSetup of this project');
    const until = Date.now() + SHARED_START_WAIT_MS;
    while (!existsSync(provided.stateFile)) {
      if (Date.now() > until) throw new Error(`the shared local stack did not start within ${SHARED_START_WAIT_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const written = JSON.parse(readFileSync(provided.stateFile, 'utf8')) as SharedStackState | { error: string };
    if ('error' in written) throw new Error(`the shared local stack could not start: ${written.error}`);
    state = written;
    call = callStack(state.url);
  }, SHARED_START_WAIT_MS + 10_000);

  const refuse = async (): Promise<never> => {
    throw new Error('the shared local stack belongs to the whole run: a test that stops or kills its stack needs useLocalStack()');
  };
  return {
    get url() {
      return running().url;
    },
    get adminToken() {
      return running().adminToken;
    },
    get localDir() {
      return running().localDir;
    },
    output: () => readFileSync(running().outputFile, 'utf8'),
    call: (method, path, opts) => {
      running();
      return call!(method, path, opts);
    },
    stop: refuse,
    kill: refuse,
  };
}
