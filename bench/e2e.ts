/**
 * 3. End to end: a 100 KiB plugin installed over the local SSM path, from the request to the
 * files on the emulated host and the restart logged (`Prefer: wait=25` answers 200 only after
 * Record). 50 sequential first installs, then 200 installs over 50 workspaces at concurrency 16.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generatePlugin, writePluginDir, type GeneratedPlugin } from './lib/plugin-gen.js';
import { HttpClient, instanceId, pool, setupWorkspaces } from './lib/http.js';
import { type Row, row, type SectionResult } from './lib/report.js';
import type { ExecutionSummary, StackUsage } from './lib/stack-child.js';
import { startStack } from './lib/stack-host.js';
import { fmtMs, median, percentile, round, summarize } from './lib/stats.js';
import { benchVerify } from './verify.js';

export interface E2eOptions {
  tmpDir: string;
  sequentialRuns?: number;
  concurrentInstalls?: number;
  concurrentWorkspaces?: number;
  concurrency?: number;
  pluginBytes?: number;
  /** Rollbacks of a 1 MiB plugin measured (each on its own workspace). */
  rollbacks?: number;
  /** Verifies of a workspace with 50 plugins / 5 000 files measured (and runs of its host script alone). */
  verifies?: number;
}

async function countFiles(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).length;
}

async function restartLines(localDir: string, instance: string, workspaceId: string): Promise<number> {
  const log = join(localDir, 'instances', instance, 'var', 'log', 'molecule-restarts.log');
  if (!existsSync(log)) return 0;
  return (await readFile(log, 'utf8')).split('\n').filter((line) => line.trimEnd().endsWith(`restart ${workspaceId}`)).length;
}

/** Median time per Task state over executions, e.g. `Stage 25 ms, Deliver 110 ms`. */
function stateBreakdown(executions: ExecutionSummary[]): Record<string, number> {
  const byState = new Map<string, number[]>();
  for (const e of executions) for (const s of e.states) if (s.type === 'Task') byState.set(s.name, [...(byState.get(s.name) ?? []), s.ms]);
  return Object.fromEntries([...byState].map(([name, ms]) => [name, round(median(ms), 1)]));
}

export async function runE2e(opts: E2eOptions): Promise<SectionResult> {
  const sequentialRuns = opts.sequentialRuns ?? 50;
  const concurrentInstalls = opts.concurrentInstalls ?? 200;
  const concurrentWorkspaces = opts.concurrentWorkspaces ?? 50;
  const concurrency = opts.concurrency ?? 16;
  const pluginBytes = opts.pluginBytes ?? 100 * 1024;
  const pluginsPerWorkspace = Math.ceil(concurrentInstalls / concurrentWorkspaces);

  // One plugin per round of the concurrent phase, so every install is a first install and restarts.
  const plugins: GeneratedPlugin[] = [];
  const registryDirs: string[] = [];
  for (let i = 0; i < Math.max(1, pluginsPerWorkspace); i++) {
    const plugin = generatePlugin({ name: `bench-e2e-${String.fromCharCode(97 + i)}`, totalBytes: pluginBytes, seed: 100 + i });
    const dir = join(opts.tmpDir, 'e2e-plugins', plugin.name);
    await writePluginDir(plugin, dir);
    plugins.push(plugin);
    registryDirs.push(dir);
  }
  const stack = await startStack({ tmpDir: opts.tmpDir, name: 'e2e', registryDirs });
  const http = new HttpClient(stack.url, concurrency + 4);
  const rows: Row[] = [];
  const findings: string[] = [];
  const data: Record<string, unknown> = { pluginBytes, pluginFiles: plugins[0]!.files.length };
  try {
    const warm = [0, 1].map((i) => ({ id: `ws-warm-${i}`, instanceId: instanceId(2, 0xfff00 + i) }));
    const seq = Array.from({ length: sequentialRuns }, (_, i) => ({ id: `ws-seq-${String(i).padStart(3, '0')}`, instanceId: instanceId(2, i) }));
    const par = Array.from({ length: concurrentWorkspaces }, (_, i) => ({ id: `ws-par-${String(i).padStart(3, '0')}`, instanceId: instanceId(3, i) }));
    const token = await setupWorkspaces(http, stack.adminToken, 'bench', [...warm, ...seq, ...par]);

    /** Installs and checks the host: every file in place and one more restart line. */
    const installAndVerify = async (ws: { id: string; instanceId: string }, plugin: GeneratedPlugin) => {
      const before = await restartLines(stack.localDir, ws.instanceId, ws.id);
      const res = await http.request('POST', `/workspaces/${ws.id}/plugins`, {
        token,
        body: { source: `local://${plugin.name}` },
        headers: { prefer: 'wait=25' },
      });
      const problems: string[] = [];
      if (res.status !== 200 || res.body?.status !== 'installed') problems.push(`answer ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      const dir = join(stack.localDir, 'instances', ws.instanceId, 'configs', 'plugins', plugin.name);
      const files = existsSync(dir) ? await countFiles(dir) : 0;
      if (files !== plugin.files.length) problems.push(`${files}/${plugin.files.length} files on the host`);
      const after = await restartLines(stack.localDir, ws.instanceId, ws.id);
      if (after !== before + 1) problems.push(`restart lines ${before} → ${after}`);
      return { ms: res.ms, operationId: res.body?.operationId as string | undefined, problems };
    };

    for (const ws of warm) await installAndVerify(ws, plugins[0]!);
    await stack.call<StackUsage>({ cmd: 'usage' });

    // Sequential: one install at a time, each a first install on its own workspace.
    const seqLatency: number[] = [];
    const seqOps: string[] = [];
    const seqLatencyByOp = new Map<string, number>();
    const seqProblems: string[] = [];
    for (const ws of seq) {
      const r = await installAndVerify(ws, plugins[0]!);
      seqLatency.push(r.ms);
      if (r.operationId) {
        seqOps.push(r.operationId);
        seqLatencyByOp.set(r.operationId, r.ms);
      }
      if (r.problems.length) seqProblems.push(`${ws.id}: ${r.problems.join('; ')}`);
    }
    const seqUsage = await stack.call<StackUsage>({ cmd: 'usage' });
    const seqExec = await stack.call<ExecutionSummary[]>({ cmd: 'executions', names: seqOps });
    const s = summarize(seqLatency);
    const execMs = seqExec.map((e) => e.durationMs);
    // What the request spends outside the workflow: accept, and waiting for the next poll after Record.
    const outside = seqExec.filter((e) => seqLatencyByOp.has(e.name)).map((e) => seqLatencyByOp.get(e.name)! - e.durationMs);
    rows.push(
      row({
        metric: `E2E install ${Math.round(pluginBytes / 1024)} KiB, sequential ×${sequentialRuns}: p50 (p99 in the text)`,
        value: round(s.p50, 1),
        unit: 'ms',
        measured: `${fmtMs(s.p50)} / ${fmtMs(s.p99)}`,
        notes: `request → 200; workflow alone p50 ${fmtMs(median(execMs))}; information only (issue #28): locally mostly the emulators' and the local engine's overhead, on AWS Step Functions' transitions and SSM's own latency`,
      }),
      row({
        metric: `E2E install ${Math.round(pluginBytes / 1024)} KiB, sequential ×${sequentialRuns}: failed checks`,
        value: seqProblems.length,
        unit: 'failures',
        target: { op: '=', value: 0, unit: 'failures' },
        measured: `${seqProblems.length} of ${sequentialRuns}`,
        notes: 'after each install: answered 200, the files on the emulated host, the restart logged',
      }),
    );
    const breakdown = stateBreakdown(seqExec);
    const gateMs = seqExec.flatMap((e) => e.states.filter((st) => st.type === 'Task' && st.name === 'VerifyHealth').map((st) => st.ms));
    rows.push(
      row({
        metric: 'Health gate (VerifyHealth) added to an install: p50',
        value: round(median(gateMs), 1),
        unit: 'ms',
        measured: `${fmtMs(median(gateMs))} (p99 ${fmtMs(percentile(gateMs, 99))})`,
        notes: `the VerifyHealth Task's time (StateEntered → StateExited) in the ${gateMs.length} sequential installs: one host command over the SSM emulator running the local health command once (it reads the emulated agent's health file); on AWS add one SSM round trip (1–3 s)`,
      }),
    );
    data.healthGateMs = { p50: round(median(gateMs), 1), p99: round(percentile(gateMs, 99), 1), count: gateMs.length };
    data.sequential = {
      latencyMs: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v as number, 1)])),
      workflowMs: { p50: median(execMs), p99: percentile(execMs, 99) },
      outsideWorkflowMs: { p50: round(median(outside), 1), max: round(Math.max(...outside), 1) },
      taskMedianMs: breakdown,
      problems: seqProblems,
      stackCpuMsPerInstall: round(seqUsage.cpuMs / sequentialRuns, 1),
      apiThreadCpuMsPerInstall: round(seqUsage.api.cpuMs / sequentialRuns, 2),
    };
    findings.push(
      `Sequential: request → 200 p50 ${fmtMs(s.p50)}, p90 ${fmtMs(s.p90)}, p99 ${fmtMs(s.p99)} (min ${fmtMs(s.min)}, max ${fmtMs(s.max)}). The workflow itself (ExecutionStarted → ExecutionSucceeded) took p50 ${fmtMs(median(execMs))}; median per Task: ${Object.entries(
        breakdown,
      )
        .map(([k, v]) => `${k} ${v} ms`)
        .join(
          ', ',
        )}. The rest (p50 ${fmtMs(median(outside))}, max ${fmtMs(Math.max(...outside))} per request) is the API's accept and its \`Prefer: wait\` polling of the operation (lambdas/use-cases/start.ts \`waitForOperation\`), which answers on the first poll after Record: on average half a poll interval late.`,
      `Stack CPU per sequential install: ${round(seqUsage.cpuMs / sequentialRuns, 1)} ms in the stack's threads and its database and host-spawner processes (not counting the SSM emulator's shell processes), of which the API thread ${round(seqUsage.api.cpuMs / sequentialRuns, 2)} ms (accept and its polls) and the child processes ${round(seqUsage.childrenCpuMs / sequentialRuns, 1)} ms.`,
    );
    if (seqProblems.length) findings.push(`Sequential failures: ${seqProblems.slice(0, 5).join(' | ')}`);

    // Concurrent: `pluginsPerWorkspace` rounds over the workspaces, 16 in flight.
    const jobs = Array.from({ length: concurrentInstalls }, (_, i) => ({
      ws: par[i % concurrentWorkspaces]!,
      plugin: plugins[Math.floor(i / concurrentWorkspaces)]!,
    }));
    const parLatency: number[] = [];
    const parOps: string[] = [];
    const parProblems: string[] = [];
    const started = performance.now();
    await pool(jobs.length, concurrency, async (i) => {
      const job = jobs[i]!;
      try {
        const r = await installAndVerify(job.ws, job.plugin);
        parLatency.push(r.ms);
        if (r.operationId) parOps.push(r.operationId);
        if (r.problems.length) parProblems.push(`${job.ws.id}/${job.plugin.name}: ${r.problems.join('; ')}`);
      } catch (err) {
        parProblems.push(`${job.ws.id}/${job.plugin.name}: ${(err as Error).message}`);
      }
    });
    const totalMs = performance.now() - started;
    const parUsage = await stack.call<StackUsage>({ cmd: 'usage' });
    // Final state: every workspace has every plugin and one restart per install.
    let finalProblems = 0;
    for (let w = 0; w < concurrentWorkspaces; w++) {
      const ws = par[w]!;
      const expected = jobs.filter((j) => j.ws === ws);
      const restarts = await restartLines(stack.localDir, ws.instanceId, ws.id);
      if (restarts !== expected.length) finalProblems += 1;
      for (const j of expected) {
        const dir = join(stack.localDir, 'instances', ws.instanceId, 'configs', 'plugins', j.plugin.name);
        if (!existsSync(dir) || (await countFiles(dir)) !== j.plugin.files.length) finalProblems += 1;
      }
    }
    const parExec = await stack.call<ExecutionSummary[]>({ cmd: 'executions', names: parOps });
    const p = summarize(parLatency);
    const retries = parExec.reduce((a, e) => a + e.retries, 0);
    const failures = parProblems.length;
    rows.push(
      row({
        metric: `E2E ${concurrentInstalls} installs / ${concurrentWorkspaces} workspaces, concurrency ${concurrency}: failures (total time in the text)`,
        value: failures + finalProblems,
        unit: 'failures',
        target: { op: '=', value: 0, unit: 'failures' },
        measured: `${round(totalMs / 1000, 1)} s, ${failures} failures`,
        notes: `${round(concurrentInstalls / (totalMs / 1000), 1)} installs/s; request → 200 p50 ${fmtMs(p.p50)}, p99 ${fmtMs(p.p99)}; ${retries} Step Functions retries; final host check: ${finalProblems} problems`,
      }),
    );
    data.concurrent = {
      totalMs: round(totalMs, 0),
      failures,
      problems: parProblems.slice(0, 20),
      finalHostProblems: finalProblems,
      latencyMs: Object.fromEntries(Object.entries(p).map(([k, v]) => [k, round(v as number, 1)])),
      retries,
      taskMedianMs: stateBreakdown(parExec),
      stackEventLoopUtilization: round(parUsage.eventLoopUtilization, 3),
      stackCpuMsPerInstall: round(parUsage.cpuMs / concurrentInstalls, 1),
      apiThreadCpuMsPerInstall: round(parUsage.api.cpuMs / concurrentInstalls, 2),
      apiThreadEventLoopUtilization: round(parUsage.api.eventLoopUtilization, 3),
    };
    findings.push(
      `Concurrent: ${concurrentInstalls} installs (${pluginsPerWorkspace} different plugins per workspace, so each one delivers and restarts) in ${round(totalMs / 1000, 1)} s; request → 200 p50 ${fmtMs(p.p50)}, p99 ${fmtMs(p.p99)}; median per Task: ${Object.entries(
        stateBreakdown(parExec),
      )
        .map(([k, v]) => `${k} ${v} ms`)
        .join(
          ', ',
        )}; ${retries} retries (WorkspaceBusy and transient errors). Main thread (engine, steps, emulators) ${round(parUsage.eventLoopUtilization * 100, 0)} % busy, API thread ${round(parUsage.api.eventLoopUtilization * 100, 0)} %; ${round(parUsage.cpuMs / concurrentInstalls, 1)} ms stack CPU per install, ${round(parUsage.api.cpuMs / concurrentInstalls, 2)} ms of it in the API thread.`,
    );
    if (parProblems.length) findings.push(`Concurrent failures: ${parProblems.slice(0, 5).join(' | ')}`);

    // Rollback: a 1 MiB plugin installed at 1.0.0, updated (another 1.0.0 with other bytes, published
    // over it), then rolled back: Stage finds the kept tarball, Deliver, Restart, VerifyHealth, Record.
    const rollbacks = opts.rollbacks ?? 5;
    const v1 = generatePlugin({ name: 'bench-rollback', totalBytes: 1024 * 1024, seed: 501 });
    const v2 = generatePlugin({ name: 'bench-rollback', totalBytes: 1024 * 1024, seed: 502 });
    const v1Dir = join(opts.tmpDir, 'rollback-v1', v1.name);
    const v2Dir = join(opts.tmpDir, 'rollback-v2', v2.name);
    await writePluginDir(v1, v1Dir);
    await writePluginDir(v2, v2Dir);
    const rb = Array.from({ length: rollbacks }, (_, i) => ({ id: `ws-rb-${i}`, instanceId: instanceId(5, i) }));
    const rbToken = await setupWorkspaces(http, stack.adminToken, 'bench', rb);
    const wait = { prefer: 'wait=25' };
    await stack.call({ cmd: 'publish', dir: v1Dir });
    for (const ws of rb) await http.request('POST', `/workspaces/${ws.id}/plugins`, { token: rbToken, body: { source: `local://${v1.name}` }, headers: wait });
    await stack.call({ cmd: 'publish', dir: v2Dir });
    for (const ws of rb) await http.request('POST', `/workspaces/${ws.id}/plugins`, { token: rbToken, body: { source: `local://${v2.name}` }, headers: wait });
    const rbLatency: number[] = [];
    const rbProblems: string[] = [];
    for (const ws of rb) {
      const res = await http.request('POST', `/workspaces/${ws.id}/plugins/${v1.name}/rollback`, { token: rbToken, headers: wait });
      rbLatency.push(res.ms);
      if (res.status !== 200 || res.body?.revision !== 1) rbProblems.push(`${ws.id}: ${res.status} ${JSON.stringify(res.body).slice(0, 160)}`);
      const dir = join(stack.localDir, 'instances', ws.instanceId, 'configs', 'plugins', v1.name);
      // Every file of revision 1, byte for byte, and nothing else.
      const same = await Promise.all(v1.files.map(async (f) => existsSync(join(dir, f.path)) && (await readFile(join(dir, f.path))).equals(f.content)));
      if (same.includes(false) || (await countFiles(dir)) !== v1.files.length) rbProblems.push(`${ws.id}: the host does not hold revision 1 byte for byte`);
    }
    rows.push(
      row({
        metric: 'Rollback of a 1 MiB plugin, end to end: p50',
        value: round(median(rbLatency), 1),
        unit: 'ms',
        alsoRequired: rbProblems.length === 0,
        measured: `${fmtMs(median(rbLatency))} (max ${fmtMs(Math.max(...rbLatency))})`,
        notes: `request → 200 rolled_back (Prefer: wait), ${rollbacks} rollbacks on their own workspaces, each restarting and passing the health gate; ${v1.files.length} files; ${rbProblems.length} failed checks of the host`,
      }),
    );
    data.rollback = { latencyMs: rbLatency.map((ms) => round(ms, 1)), problems: rbProblems, files: v1.files.length };
    if (rbProblems.length) findings.push(`Rollback failures: ${rbProblems.slice(0, 5).join(' | ')}`);

    // Drift: a verify of a workspace with 50 plugins / 5 000 files (bench/verify.ts).
    const drift = { id: 'ws-drift', instanceId: instanceId(6, 0) };
    const driftToken = await setupWorkspaces(http, stack.adminToken, 'bench', [drift]);
    const verified = await benchVerify({ http, token: driftToken, stack, workspace: drift, runs: opts.verifies ?? 5 });
    rows.push(...verified.rows);
    findings.push(...verified.findings);
    data.verify = verified.data;

    findings.unshift(
      `Plugin: ${plugins.length} generated plugins of ${Math.round(pluginBytes / 1024)} KiB (${plugins[0]!.files.length} files each), published to the local registry at start. Every install is a first install of that plugin on its workspace (each workspace on its own emulated instance), so Deliver unpacks over SSM and Restart appends to the instance's restart log; both are checked on disk after every request. ${warm.length} warm-up installs first (not counted).`,
    );
  } finally {
    http.close();
    await stack.close();
  }
  return { name: 'End to end', rows, findings, data };
}
