/**
 * `npm run bench`: every measurement of the benchmark issue on the local stack, then
 * `bench/reports/latest.md` + `latest.json` and the table on stdout.
 *
 *   npm run bench                         # everything (what the committed report comes from)
 *   npm run bench -- --only api,e2e       # some sections → bench/reports/partial.*.tmp
 *   npm run bench -- --quick              # smaller sizes and counts, a smoke test → partial.*.tmp
 *
 * Sections run one after another (each stack in its own process, closed before the next), so
 * they do not compete for the machine's cores.
 */
process.env.LOG_LEVEL ??= 'WARN';

const { mkdtemp, mkdir, rm, writeFile } = await import('node:fs/promises');
const { tmpdir } = await import('node:os');
const { join } = await import('node:path');
const { cpuBusyPercent, cpuSnapshot, machineInfo, describeMachine, otherCpuPercent } = await import('./lib/machine.js');
const { markdown, row, table } = await import('./lib/report.js');
const { databaseLabel } = await import('./lib/stack-host.js');
const { REPO_ROOT } = await import('./lib/proc.js');
type SectionResult = import('./lib/report.js').SectionResult;
type Report = import('./lib/report.js').Report;

const SECTIONS = ['staging', 'cold-start', 'api', 'e2e', 'cost', 'rollout'] as const;
type SectionKey = (typeof SECTIONS)[number];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.find((a) => a.startsWith('--only'))?.split('=')[1] ?? (args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined);
const only = onlyArg ? (onlyArg.split(',').map((s) => s.trim()) as SectionKey[]) : [...SECTIONS];
for (const key of only) if (!SECTIONS.includes(key)) throw new Error(`unknown section "${key}" (choose from ${SECTIONS.join(', ')})`);
const full = !quick && only.length === SECTIONS.length;

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

const started = performance.now();
const startedAt = new Date().toISOString();
const tmp = await mkdtemp(join(tmpdir(), 'molecule-bench-'));
let cleaned = false;
const cleanup = async () => {
  if (cleaned) return;
  cleaned = true;
  await rm(tmp, { recursive: true, force: true });
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

const machine = machineInfo();
machine.cpuBusyBeforeRunPct = await cpuBusyPercent(1000);
log(`machine: ${describeMachine(machine)}; CPUs ${machine.cpuBusyBeforeRunPct ?? '?'} % busy before the run; database: ${databaseLabel()}; temp dir ${tmp}`);

const runners: Record<SectionKey, { title: string; run: () => Promise<SectionResult> }> = {
  staging: {
    title: 'Staging',
    run: async () => (await import('./staging.js')).runStaging({ tmpDir: tmp, ...(quick ? { runs: 1 } : {}) }),
  },
  'cold-start': {
    title: 'Cold start and size',
    run: async () => (await import('./cold-start.js')).runColdStart({ tmpDir: tmp, ...(quick ? { runs: 3 } : {}) }),
  },
  api: {
    title: 'API accept latency',
    run: async () =>
      (await import('./api-latency.js')).runApiLatency({ tmpDir: tmp, ...(quick ? { requests: 200, rateDurationMs: 5000, isolated: 50, idleMs: 2000 } : {}) }),
  },
  e2e: {
    title: 'End to end',
    run: async () =>
      (await import('./e2e.js')).runE2e({
        tmpDir: tmp,
        ...(quick ? { sequentialRuns: 10, concurrentInstalls: 40, concurrentWorkspaces: 10, concurrency: 8, rollbacks: 2, verifies: 2 } : {}),
      }),
  },
  cost: {
    title: 'Cost',
    run: async () => (await import('./cost.js')).runCost({ tmpDir: tmp, ...(quick ? { operations: 5 } : {}) }),
  },
  rollout: {
    title: 'Fleet rollout',
    run: async () => (await import('./rollout.js')).runRolloutBench({ tmpDir: tmp, ...(quick ? { workspaces: 60, maxConcurrency: 10 } : {}) }),
  },
};

const sections: SectionResult[] = [];
try {
  for (const key of SECTIONS) {
    if (!only.includes(key)) continue;
    const runner = runners[key];
    log(`${runner.title}...`);
    const t = performance.now();
    const cpuBefore = cpuSnapshot();
    let result: SectionResult;
    try {
      result = await runner.run();
    } catch (err) {
      const message = (err as Error).message.split('\n').slice(0, 6).join(' ');
      log(`${runner.title} FAILED: ${(err as Error).stack ?? err}`);
      result = { name: runner.title, rows: [], findings: [], data: {}, error: message };
    }
    result.durationMs = performance.now() - t;
    result.otherCpuPct = otherCpuPercent(cpuBefore, cpuSnapshot());
    sections.push(result);
    log(`${runner.title}: done in ${(result.durationMs / 1000).toFixed(0)} s; other processes used ${result.otherCpuPct ?? '?'} % of the CPUs meanwhile`);
  }
} finally {
  await cleanup();
}

const totalMs = performance.now() - started;
sections.push({
  name: 'Benchmark run',
  rows: [
    row({
      metric: 'Whole `npm run bench`',
      value: Math.round(totalMs / 1000),
      unit: 's',
      target: full ? { op: '<', value: 600, unit: 's' } : null,
      measured: `${(totalMs / 1000).toFixed(0)} s${full ? '' : ' (partial run)'}`,
      notes: `${describeMachine(machine)}; sections: ${sections.map((s) => `${s.name} ${((s.durationMs ?? 0) / 1000).toFixed(0)} s`).join(', ')}; CPU used by other processes per section: ${sections.map((s) => `${s.otherCpuPct ?? '?'} %`).join(', ')}`,
    }),
  ],
  findings: [],
  data: { totalMs: Math.round(totalMs), quick, sections: only },
});

const report: Report = {
  startedAt,
  totalMs,
  machine,
  database: databaseLabel(),
  command: full ? 'npm run bench' : `npm run bench -- ${args.join(' ')}`,
  sections,
};
const outDir = join(REPO_ROOT, 'bench', 'reports');
await mkdir(outDir, { recursive: true });
const base = full ? 'latest' : 'partial';
const suffix = full ? '' : '.tmp';
await writeFile(join(outDir, `${base}.md${suffix}`), markdown(report));
await writeFile(join(outDir, `${base}.json${suffix}`), `${JSON.stringify(report, null, 2)}\n`);
// bench/README.md's table comes from the JSON of a full run, never typed by hand.
if (full) {
  const { updateReadme } = await import('./lib/readme-table.js');
  log(`benchmark table rewritten: ${await updateReadme()}`);
}

process.stdout.write(`\n${table(sections)}\n\n`);
const missed = sections.flatMap((s) => s.rows.filter((r) => r.met === false).map((r) => r.metric));
const failed = sections.filter((s) => s.error).map((s) => s.name);
process.stdout.write(
  `${missed.length ? `Targets missed: ${missed.length} (${missed.join('; ')})` : 'Every target was met.'}${failed.length ? `\nSections that failed to run: ${failed.join(', ')}` : ''}\n` +
    `Report: bench/reports/${base}.md${suffix} (+ .json${suffix}); total ${(totalMs / 1000).toFixed(0)} s.\n`,
);
process.exitCode = failed.length ? 1 : 0;
