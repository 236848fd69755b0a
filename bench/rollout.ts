/**
 * 6. Fleet rollout (SPEC §10): one plugin to many local workspaces at maxConcurrency 50, through
 * the rollout's driver in the one workflow definition. Wall time, installs per second, state
 * transitions and $ per workspace, failures, the peak of installs in flight (from the operations'
 * own timestamps, not assumed), and the history the driver's executions grow per tick, from which
 * a 10 000-target rollout's parent execution is bounded.
 */
import { join } from 'node:path';
import { generatePlugin, writePluginDir } from './lib/plugin-gen.js';
import { HttpClient, instanceId, pool, setupWorkspaces } from './lib/http.js';
import { type Row, row, type SectionResult } from './lib/report.js';
import type { ExecutionSummary } from './lib/stack-child.js';
import { startStack } from './lib/stack-host.js';
import { median, peakOverlap, round } from './lib/stats.js';
import { synthesize } from './lib/synth.js';
import { PRICES } from './cost.js';

export interface RolloutBenchOptions {
  tmpDir: string;
  workspaces?: number;
  maxConcurrency?: number;
}

/** Step Functions' history events for one state of each type (TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited; Choice and Wait: entered and exited). */
const EVENTS_PER_STATE: Record<string, number> = { Task: 5, Choice: 2, Wait: 2, Pass: 2, Succeed: 2, Fail: 1 };
/** The driver hands over to a fresh execution after this many ticks (lambdas/composition/rollout.ts HAND_OVER). */
const TICKS_PER_EXECUTION = 600;

export async function runRolloutBench(opts: RolloutBenchOptions): Promise<SectionResult> {
  const count = opts.workspaces ?? 1000;
  const maxConcurrency = opts.maxConcurrency ?? 50;
  const synth = await synthesize(opts.tmpDir);
  const memory = new Map(synth.functions.map((f) => [f.name, f.memoryMb]));
  const plugin = generatePlugin({ name: 'bench-rollout', totalBytes: 20 * 1024, seed: 11 });
  const dir = join(opts.tmpDir, 'rollout-plugins', plugin.name);
  await writePluginDir(plugin, dir);
  const stack = await startStack({ tmpDir: opts.tmpDir, name: 'rollout', registryDirs: [dir] });
  const http = new HttpClient(stack.url, 8);
  const rows: Row[] = [];
  const findings: string[] = [];
  const data: Record<string, unknown> = { workspaces: count, maxConcurrency };
  try {
    const workspaces = Array.from({ length: count }, (_, i) => ({ id: `ws-ro-${String(i).padStart(5, '0')}`, instanceId: instanceId(6, i) }));
    const token = await setupWorkspaces(http, stack.adminToken, 'bench', workspaces);
    const started = performance.now();
    const accepted = await http.request('POST', '/orgs/bench/rollouts', {
      token,
      body: { source: `local://${plugin.name}`, targets: { all: true }, maxConcurrency, canary: 1, maxErrors: 0 },
    });
    if (accepted.status !== 202) throw new Error(`rollout: ${accepted.status} ${JSON.stringify(accepted.body)}`);
    const { rolloutId } = accepted.body as { rolloutId: string };
    let rollout: any;
    for (;;) {
      rollout = (await http.request('GET', `/orgs/bench/rollouts/${rolloutId}`, { token })).body;
      if (rollout.status !== 'RUNNING') break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const wallMs = performance.now() - started;

    // The installs' own start and end, as the operations recorded them.
    const operationIds: string[] = rollout.workspaces.filter((w: any) => w.operationId).map((w: any) => w.operationId);
    const spans: Array<[number, number]> = [];
    await pool(operationIds.length, 8, async (i) => {
      const op = (await http.request('GET', `/operations/${operationIds[i]}`, { token: stack.adminToken })).body;
      spans.push([Date.parse(op.createdAt), Date.parse(op.updatedAt)]);
    });
    const peak = peakOverlap(spans);

    const executions = await stack.call<ExecutionSummary[]>({ cmd: 'executions' });
    const installs = executions.filter((e) => operationIds.includes(e.name));
    const drivers = executions.filter((e) => e.name.startsWith('rollout-'));
    const installTransitions = installs.reduce((a, e) => a + e.transitionCount, 0);
    const driverTransitions = drivers.reduce((a, e) => a + e.transitionCount, 0);
    const transitionsPerWorkspace = (installTransitions + driverTransitions) / count;
    const lambdaGbS = [...installs, ...drivers]
      .flatMap((e) => e.states.filter((s) => s.type === 'Task'))
      .reduce((a, s) => a + (Math.max(1, Math.ceil(s.ms)) / 1000) * ((memory.get(taskFunction(s.name)) ?? 128) / 1024), 0);
    const invocations = [...installs, ...drivers].reduce((a, e) => a + e.states.filter((s) => s.type === 'Task').length, 0);
    const dollarsPerWorkspace =
      (transitionsPerWorkspace * PRICES.transition * count + lambdaGbS * PRICES.lambdaGbSecondArm + invocations * PRICES.lambdaRequest) / count;
    const ticks = drivers.reduce((a, e) => a + e.states.filter((s) => s.name === 'RolloutTick').length, 0);
    const perTick = EVENTS_PER_STATE.Task! + EVENTS_PER_STATE.Choice! + EVENTS_PER_STATE.Wait!;
    const parentEventsBound = 3 + EVENTS_PER_STATE.Task! + TICKS_PER_EXECUTION * perTick + EVENTS_PER_STATE.Succeed!;
    const failures = rollout.counts.failed;

    rows.push(
      row({
        metric: `Rollout to ${count} workspaces at maxConcurrency ${maxConcurrency}: wall time (installs/s in the text)`,
        value: round(wallMs / 1000, 1),
        unit: 's',
        alsoRequired: failures === 0 && rollout.status === 'SUCCEEDED',
        measured: `${round(wallMs / 1000, 1)} s, ${round(count / (wallMs / 1000), 1)} installs/s, ${failures} failures, ${rollout.status}`,
        notes: `one canary then ${maxConcurrency} at a time; ${ticks} driver ticks in ${drivers.length} driver execution(s)`,
      }),
      row({
        metric: 'Rollout: peak installs in flight (from the operations’ timestamps)',
        value: peak,
        unit: 'installs',
        target: { op: '<=', value: maxConcurrency, unit: 'installs' },
        measured: String(peak),
        notes: 'operations overlapping in [createdAt, updatedAt]',
      }),
      row({
        metric: 'Rollout: state transitions per workspace (its install and a share of the driver)',
        value: round(transitionsPerWorkspace, 2),
        unit: 'transitions',
        target: { op: '<=', value: 12, unit: 'transitions' },
        measured: round(transitionsPerWorkspace, 2).toString(),
        notes: `installs ${round(installTransitions / Math.max(1, installs.length), 2)} each, the driver ${driverTransitions} in all`,
      }),
      row({
        metric: 'Rollout: $ per workspace',
        value: dollarsPerWorkspace,
        unit: 'USD',
        target: { op: '<=', value: 0.0004, unit: 'USD' },
        measured: `$${dollarsPerWorkspace.toFixed(6)}`,
        notes: 'transitions, Lambda GB-s at the synthesized memory sizes (local durations) and requests; API calls, S3 and SSM not included',
      }),
      row({
        metric: 'Rollout: history events of a 10 000-target rollout’s parent execution (bound)',
        value: parentEventsBound,
        unit: 'events',
        target: { op: '<', value: 25_000, unit: 'events' },
        measured: String(parentEventsBound),
        notes: `the driver's execution grows by ${perTick} events a tick (Task ${EVENTS_PER_STATE.Task}, Choice ${EVENTS_PER_STATE.Choice}, Wait ${EVENTS_PER_STATE.Wait}) and hands over after ${TICKS_PER_EXECUTION} ticks, whatever the number of targets; installs run as executions of their own`,
      }),
    );
    data.rollout = {
      wallMs: round(wallMs, 0),
      counts: rollout.counts,
      peak,
      transitionsPerWorkspace: round(transitionsPerWorkspace, 3),
      dollarsPerWorkspace,
      ticks,
      driverExecutions: drivers.length,
      installMedianMs: median(installs.map((e) => e.durationMs)),
    };
    findings.push(
      `Rollout of a ${Math.round(20)} KiB plugin to ${count} local workspaces, maxConcurrency ${maxConcurrency}: ${round(wallMs / 1000, 1)} s (${round(count / (wallMs / 1000), 1)} installs/s), ${failures} failures, peak ${peak} in flight, install executions p50 ${median(installs.map((e) => e.durationMs))} ms; ${ticks} ticks of the driver at PLUGIN_ROLLOUT_TICK (1 s locally).`,
    );
  } finally {
    http.close();
    await stack.close();
  }
  return { name: 'Fleet rollout', rows, findings, data };
}

/** The function a Task state invokes (the plan and rollout paths reuse functions under other state names). */
function taskFunction(state: string): string {
  if (state.startsWith('Rollout')) return 'Rollout';
  if (state === 'PlanStage') return 'Stage';
  if (state === 'PlanCheckAllowlist') return 'CheckAllowlist';
  return state;
}
