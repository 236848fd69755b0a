import { fileURLToPath } from 'node:url';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { faultsFromEnv, FaultSpecError, type Faults } from './faults.js';
import { registryDirectories } from './registry.js';
import { startLocalStack } from './stack.js';

/** `npm start`: the whole system locally, then ready-to-paste commands for a first install. */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

// The local stack runs every Lambda, emulator and scheduler in one process: a promise some part of
// it forgot to handle must not take all of them down (on AWS each function is its own process). It
// is reported, loudly and with its stack, as the bug it is. CI has seen the stack process vanish
// mid-test on a loaded machine; this line's output is what to look for.
process.on('unhandledRejection', (reason) => {
  const err = reason instanceof Error ? reason : new Error(String(reason));
  process.stderr.write(
    `${JSON.stringify({ level: 'ERROR', message: 'unhandled promise rejection in the local stack', error: err.message, stack: err.stack })}\n`,
  );
});

let faults: Faults;
try {
  faults = faultsFromEnv();
} catch (err) {
  if (!(err instanceof FaultSpecError)) throw err;
  process.stderr.write(`molecule: ${err.message}\n`);
  process.exit(2);
}

const stack = await startLocalStack({
  faults,
  port: Number(process.env.PORT ?? 3000),
  localDir: process.env.MOLECULE_LOCAL_DIR ?? '.local',
  adminToken: process.env.ADMIN_TOKEN,
  databaseUrl: process.env.DATABASE_URL,
  registryDirs: registryDirectories(join(repoRoot, 'plugins'), process.env.MOLECULE_REGISTRY_DIR),
}).catch((err: Error) => {
  process.stderr.write(`molecule: the local stack could not start: ${err.message}\n`);
  process.exit(1);
});

const ws = stack.demo.workspaces[0]!;
// Relative when it is below the current directory (short to copy), else absolute (works from anywhere).
const instancePath = join(stack.localDir, 'instances', ws.instanceId!);
const fromHere = relative(process.cwd(), instancePath);
const instanceDir = fromHere.startsWith('..') || isAbsolute(fromHere) ? instancePath : fromHere || '.';
const lines = [
  '',
  `Molecule plugin delivery is running at ${stack.url}`,
  `  database: ${stack.databaseEmbedded ? 'embedded PostgreSQL (PGlite)' : 'DATABASE_URL'}   state: ${stack.localDir}`,
  `  admin token${stack.adminTokenGenerated ? ' (generated; set ADMIN_TOKEN to fix it)' : ''}: ${stack.adminToken}`,
  '',
  `Demo org "${stack.demo.orgId}", workspaces: ${stack.demo.workspaces.map((w) => `${w.id} (${w.runtime})`).join(', ')}`,
  '',
  'Install a plugin into ws-demo and wait for it:',
  `  curl -s -X POST ${stack.url}/workspaces/${ws.id}/plugins -H 'Authorization: Bearer ${stack.demo.orgToken}' -H 'Content-Type: application/json' -H 'Prefer: wait=20' -d '{"source":"local://code-review-rules"}'`,
  '',
  'See it on the emulated host, and in the API:',
  `  ls ${instanceDir}/configs/plugins/code-review-rules && cat ${instanceDir}/var/log/molecule-restarts.log`,
  `  curl -s ${stack.url}/workspaces/${ws.id}/plugins -H 'Authorization: Bearer ${stack.demo.orgToken}'`,
  '',
  'Other tokens:',
  ...stack.demo.workspaces.map((w) => `  workspace ${w.id}: ${w.token}`),
  '',
  'Ctrl-C stops everything.',
  '',
];
process.stdout.write(`${lines.join('\n')}\n`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stdout.write('\nstopping...\n');
    stack.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
