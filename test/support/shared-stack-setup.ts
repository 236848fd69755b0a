import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { createTestDatabase, type TestDatabase } from './database.js';
import type { SharedStackState } from './local-stack.js';
import { spawnLocalStack, type SpawnedStack } from './spawn-local-stack.js';

/**
 * The e2e project's global setup: one `npm start` process in the default environment for every
 * e2e file that calls `useSharedLocalStack()`, instead of one per file (each start costs several
 * seconds of CPU). It starts in the background, so the rest of the run goes on meanwhile, on a
 * fresh database when `DATABASE_URL` names a server (else embedded), and writes where it is to a
 * state file the test files wait for. It starts only when the run includes such a file.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (!runUsesSharedStack(project)) {
    project.provide('sharedLocalStack', null);
    return undefined;
  }
  const dir = await mkdtemp(join(tmpdir(), 'molecule-shared-stack-'));
  const stateFile = join(dir, 'state.json');
  project.provide('sharedLocalStack', { stateFile });
  const starting = start(dir, stateFile);
  return async () => {
    const started = await starting;
    await started?.stack.stop();
    await started?.database?.close();
    await rm(dir, { recursive: true, force: true });
  };
}

async function start(dir: string, stateFile: string): Promise<{ stack: SpawnedStack; database?: TestDatabase } | undefined> {
  let database: TestDatabase | undefined;
  try {
    database = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
    const outputFile = join(dir, 'output.log');
    const stack = await spawnLocalStack({ DATABASE_URL: database?.url }, { outputFile });
    write(stateFile, { url: stack.url, adminToken: stack.adminToken, localDir: stack.localDir, outputFile } satisfies SharedStackState);
    return { stack, database };
  } catch (err) {
    await database?.close().catch(() => undefined);
    write(stateFile, { error: (err as Error).message });
    return undefined;
  }
}

/** Whole or not at all: a test file polls for the state file and reads it as soon as it exists. */
function write(file: string, value: unknown): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(value));
  renameSync(`${file}.tmp`, file);
}

/**
 * Whether a test file of this run, in this project, uses the shared stack: `vitest run
 * test/e2e/recovery.test.ts` should not start a stack nobody asks for. When the run's files are
 * not known, it assumes so.
 */
function runUsesSharedStack(project: TestProject): boolean {
  const paths = (project.vitest as unknown as { state?: { getPaths?: () => string[] } }).state?.getPaths?.();
  if (!paths?.length) return true;
  return paths.some((path) => project.matchesTestGlob(path) && readFileSync(path, 'utf8').includes('useSharedLocalStack('));
}
