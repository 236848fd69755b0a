/**
 * Drift (SPEC §12, issue #26 item 5): a verify of a workspace with 50 plugins and 5 000 files. The
 * host script alone (scripts/inventory.sh under real bash on the emulated instance root, uploading
 * to a local PUT endpoint): its time, what it prints (what crosses SSM's 24 000-character output)
 * and what it uploads; then the verify end to end through the stack, after a repair adopted the
 * plugins and five of them were edited, so it compares every file with its active revision.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { inventoryScript } from '../lambdas/delivery/host-scripts.js';
import { MAX_INVENTORY_UPLOAD_BYTES } from '../lambdas/delivery/index.js';
import type { HttpClient } from './lib/http.js';
import { type Row, row } from './lib/report.js';
import type { ExecutionSummary } from './lib/stack-child.js';
import { fmtMs, median, round } from './lib/stats.js';

export interface VerifyBenchOptions {
  http: HttpClient;
  token: string;
  stack: { localDir: string; call<T>(command: { cmd: 'executions'; names?: string[] }): Promise<T> };
  workspace: { id: string; instanceId: string };
  plugins?: number;
  filesPerPlugin?: number;
  /** Runs of the host script alone, and verifies end to end. */
  runs?: number;
}

const SSM_OUTPUT_LIMIT = 24_000;

/** Writes `plugins` plugin dirs of `filesPerPlugin` files (plugin.yaml and ~1 KiB rules) straight onto the host. */
async function writeHostPlugins(pluginsDir: string, plugins: number, filesPerPlugin: number): Promise<number> {
  let files = 0;
  for (let p = 0; p < plugins; p++) {
    const name = `bench-drift-${String(p).padStart(3, '0')}`;
    const dir = join(pluginsDir, name);
    await mkdir(join(dir, 'rules'), { recursive: true });
    await writeFile(join(dir, 'plugin.yaml'), `name: ${name}\nversion: 1.0.0\n`);
    const writes = Array.from({ length: filesPerPlugin - 1 }, (_, f) => {
      const seed = createHash('sha256').update(`${p}/${f}`).digest('hex');
      return writeFile(join(dir, 'rules', `rule-${String(f).padStart(4, '0')}.md`), `# Rule ${p}.${f}\n${seed.repeat(16)}\n`);
    });
    await Promise.all(writes);
    files += filesPerPlugin;
  }
  return files;
}

/** Runs the host script as a transport would, timing it; the upload lands in `uploads`. */
function runHostScript(script: string, root: string): Promise<{ ms: number; stdout: string; status: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    execFile('bash', ['-c', script], { env: { PATH: process.env.PATH, MOLECULE_HOST_ROOT: root }, maxBuffer: 1024 * 1024 }, (err, stdout) => {
      resolve({ ms: performance.now() - started, stdout, status: err ? 1 : 0 });
    });
  });
}

export async function benchVerify(opts: VerifyBenchOptions): Promise<{ rows: Row[]; findings: string[]; data: Record<string, unknown> }> {
  const plugins = opts.plugins ?? 50;
  const filesPerPlugin = opts.filesPerPlugin ?? 100;
  const runs = opts.runs ?? 5;
  const { http, token, workspace } = opts;
  const root = join(opts.stack.localDir, 'instances', workspace.instanceId);
  const pluginsDir = join(root, 'configs', 'plugins');
  const files = await writeHostPlugins(pluginsDir, plugins, filesPerPlugin);

  // The host script alone, uploading to a PUT endpoint of its own.
  const uploads: number[] = [];
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      uploads.push(bytes);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const uploadUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/inventory`;
  const script = inventoryScript({ configDir: '/configs', uploadUrl, uploadTimeoutSeconds: 60, maxBytes: MAX_INVENTORY_UPLOAD_BYTES });
  const hostMs: number[] = [];
  const printed: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const run = await runHostScript(script, root);
      if (run.status !== 0) throw new Error(`the inventory script failed: ${run.stdout}`);
      hostMs.push(run.ms);
      printed.push(Buffer.byteLength(run.stdout));
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }

  // End to end: adopt what is there (so every plugin has an active revision), edit five, verify.
  const wait = { prefer: 'wait=25' };
  const adopted = await http.request('POST', `/workspaces/${workspace.id}/plugins/repair`, { token, body: { mode: 'adopt' }, headers: wait });
  const problems: string[] = [];
  if (adopted.status !== 200 || adopted.body?.plugins?.length !== plugins)
    problems.push(`adopt: ${adopted.status} ${JSON.stringify(adopted.body).slice(0, 160)}`);
  for (let p = 0; p < 5; p++) await appendFile(join(pluginsDir, `bench-drift-${String(p).padStart(3, '0')}`, 'rules', 'rule-0000.md'), 'edited\n');
  const verifyMs: number[] = [];
  const operations: string[] = [];
  for (let i = 0; i < runs; i++) {
    const res = await http.request('POST', `/workspaces/${workspace.id}/plugins/verify`, { token, headers: wait });
    verifyMs.push(res.ms);
    if (res.body?.operationId) operations.push(res.body.operationId);
    const modified = (res.body?.plugins ?? []).filter((p: { state: string }) => p.state === 'modified').length;
    if (res.status !== 200 || res.body?.plugins?.length !== plugins || modified !== 5) problems.push(`verify: ${res.status}, ${modified} modified`);
  }
  const executions = await opts.stack.call<ExecutionSummary[]>({ cmd: 'executions', names: operations });
  const inventoryStepMs = executions.flatMap((e) => e.states.filter((s) => s.type === 'Task' && s.name === 'Inventory').map((s) => s.ms));

  const rows = [
    row({
      metric: `Verify inventory on the host, ${plugins} plugins / ${files} files: p50`,
      value: round(median(hostMs), 1),
      unit: 'ms',
      measured: `${fmtMs(median(hostMs))} (max ${fmtMs(Math.max(...hostMs))})`,
      notes: `scripts/inventory.sh under bash on the emulated root, ${runs} runs: one find hashing every file, tar, gzip, an HTTP PUT; prints ${Math.max(...printed)} bytes (SSM keeps ${SSM_OUTPUT_LIMIT}), uploads ${round(median(uploads) / 1024, 1)} KiB`,
    }),
    row({
      metric: `Verify host output through the transport, ${plugins} plugins / ${files} files`,
      value: Math.max(...printed),
      unit: 'bytes',
      target: { op: '<', value: SSM_OUTPUT_LIMIT, unit: 'bytes' },
      measured: `${Math.max(...printed)} B printed, ${round(median(uploads) / 1024, 1)} KiB uploaded`,
      notes: 'one result line on stdout whatever the host holds; the inventory itself goes to S3 by a presigned PUT',
    }),
    row({
      metric: `Verify end to end, ${plugins} plugins / ${files} files, 5 modified: p50`,
      value: round(median(verifyMs), 1),
      unit: 'ms',
      alsoRequired: problems.length === 0,
      measured: `${fmtMs(median(verifyMs))} (Inventory step p50 ${fmtMs(median(inventoryStepMs))})`,
      notes: `request → 200 with the result (Prefer: wait), ${runs} verifies after a repair adopted every plugin: lease, host script over the SSM emulator, S3 upload and read back, hashes and file diffs against the active revisions; ${problems.length} failed checks`,
    }),
  ];
  const data = {
    plugins,
    files,
    hostScriptMs: hostMs.map((ms) => round(ms, 1)),
    printedBytes: Math.max(...printed),
    uploadedBytes: median(uploads),
    verifyMs: verifyMs.map((ms) => round(ms, 1)),
    inventoryStepMs: inventoryStepMs.map((ms) => round(ms, 1)),
    problems,
  };
  const findings = [
    `Verify of ${plugins} plugins / ${files} files: the host script takes p50 ${fmtMs(median(hostMs))}, prints ${Math.max(...printed)} bytes through the transport and uploads a ${round(median(uploads) / 1024, 1)} KiB inventory; end to end a verify answers in p50 ${fmtMs(median(verifyMs))}, its Inventory step p50 ${fmtMs(median(inventoryStepMs))}.`,
    ...(problems.length ? [`Verify failures: ${problems.slice(0, 5).join(' | ')}`] : []),
  ];
  return { rows, findings, data };
}
