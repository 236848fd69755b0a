/**
 * 5. Cost: state transitions per install and per uninstall from the local engine's event log,
 * and $ per 1 000 operations at published prices, with Lambda durations measured per Task,
 * memory sizes from the synthesized template and S3 requests counted at a proxy in front of
 * the local S3.
 */
import { join } from 'node:path';
import { generatePlugin, writePluginDir } from './lib/plugin-gen.js';
import { HttpClient, instanceId, setupWorkspaces } from './lib/http.js';
import { type Row, row, type SectionResult } from './lib/report.js';
import type { S3Counts } from './lib/s3-proxy.js';
import type { ExecutionSummary } from './lib/stack-child.js';
import { startStack } from './lib/stack-host.js';
import { median, round } from './lib/stats.js';
import { synthesize } from './lib/synth.js';

export interface CostOptions {
  tmpDir: string;
  operations?: number;
}

/** Published on-demand prices (us-east-1). */
export const PRICES = {
  transition: 0.025 / 1000, // Step Functions Standard, per state transition
  lambdaGbSecondArm: 0.0000133334, // Lambda arm64, per GB-second
  lambdaRequest: 0.2 / 1_000_000,
  s3Put: 0.005 / 1000, // PUT, COPY, POST, LIST
  s3Get: 0.0004 / 1000, // GET, SELECT and other reads
};

interface OpCost {
  transitions: number;
  status: string;
  lambda: Array<{ fn: string; ms: number; memoryMb: number }>;
  s3: { put: number; get: number; delete: number };
}

function dollars(op: OpCost): { transitions: number; lambdaCompute: number; lambdaRequests: number; s3: number; total: number } {
  const transitions = op.transitions * PRICES.transition;
  const lambdaCompute = op.lambda.reduce((a, l) => a + (Math.max(1, Math.ceil(l.ms)) / 1000) * (l.memoryMb / 1024) * PRICES.lambdaGbSecondArm, 0);
  const lambdaRequests = op.lambda.length * PRICES.lambdaRequest;
  const s3 = op.s3.put * PRICES.s3Put + op.s3.get * PRICES.s3Get;
  return { transitions, lambdaCompute, lambdaRequests, s3, total: transitions + lambdaCompute + lambdaRequests + s3 };
}

const per1000 = (x: number) => `$${(x * 1000).toFixed(4)}`;

export async function runCost(opts: CostOptions): Promise<SectionResult> {
  const operations = opts.operations ?? 20;
  const synth = await synthesize(opts.tmpDir);
  const memory = new Map(synth.functions.map((f) => [f.name, f.memoryMb]));
  const memoryOf = (fn: string) => {
    const mb = memory.get(fn);
    if (mb === undefined) throw new Error(`no synthesized function for ${fn}`);
    return mb;
  };

  const plugin = generatePlugin({ name: 'bench-cost', totalBytes: 100 * 1024, seed: 7 });
  const pluginDir = join(opts.tmpDir, 'cost-plugins', plugin.name);
  await writePluginDir(plugin, pluginDir);
  const stack = await startStack({ tmpDir: opts.tmpDir, name: 'cost', registryDirs: [pluginDir], countS3: true });
  const http = new HttpClient(stack.url, 4);
  const installs: OpCost[] = [];
  const uninstalls: OpCost[] = [];
  const s3Detail: Record<string, Record<string, number>> = { install: {}, uninstall: {} };
  try {
    const workspaces = Array.from({ length: operations + 1 }, (_, i) => ({ id: `ws-cost-${String(i).padStart(3, '0')}`, instanceId: instanceId(4, i) }));
    const token = await setupWorkspaces(http, stack.adminToken, 'bench', workspaces);

    /** 202, then (as a client would) one status read once it is done: two API invocations (the API function authenticates; there is no authorizer). */
    const operate = async (kind: 'install' | 'uninstall', wsId: string): Promise<OpCost> => {
      const before = await stack.call<S3Counts>({ cmd: 's3Counts' });
      const accepted =
        kind === 'install'
          ? await http.request('POST', `/workspaces/${wsId}/plugins`, { token, body: { source: `local://${plugin.name}` } })
          : await http.request('DELETE', `/workspaces/${wsId}/plugins/${plugin.name}`, { token });
      if (accepted.status !== 202) throw new Error(`${kind} on ${wsId}: ${accepted.status} ${JSON.stringify(accepted.body)}`);
      const execution = await stack.call<ExecutionSummary>({ cmd: 'waitExecution', name: accepted.body.operationId, timeoutMs: 60_000 });
      const status = await http.request('GET', accepted.body.statusUrl, { token });
      const after = await stack.call<S3Counts>({ cmd: 's3Counts' });
      for (const [k, v] of Object.entries(after.detail)) {
        const d = v - (before.detail[k] ?? 0);
        if (d) s3Detail[kind]![k] = (s3Detail[kind]![k] ?? 0) + d;
      }
      const lambda = [
        { fn: 'Api', ms: accepted.ms, memoryMb: memoryOf('Api') },
        { fn: 'Api', ms: status.ms, memoryMb: memoryOf('Api') },
        ...execution.states.filter((s) => s.type === 'Task').map((s) => ({ fn: s.name, ms: s.ms, memoryMb: memoryOf(s.name) })),
      ];
      return {
        transitions: execution.transitionCount,
        status: `${execution.status}/${status.body?.status ?? status.status}`,
        lambda,
        s3: { put: after.put - before.put, get: after.get - before.get, delete: after.delete - before.delete },
      };
    };

    // Warm-up (not counted): the first operation builds the runtime and its clients.
    await operate('install', workspaces[0]!.id);
    await operate('uninstall', workspaces[0]!.id);
    for (const k of Object.keys(s3Detail)) s3Detail[k] = {};
    for (const ws of workspaces.slice(1)) installs.push(await operate('install', ws.id));
    for (const ws of workspaces.slice(1)) uninstalls.push(await operate('uninstall', ws.id));
  } finally {
    http.close();
    await stack.close();
  }

  const summarizeOps = (ops: OpCost[]) => {
    const ok = ops.filter((o) => o.status === 'SUCCEEDED/SUCCEEDED');
    const costs = ok.map(dollars);
    const med = (f: (c: ReturnType<typeof dollars>) => number) => median(costs.map(f));
    const byFn = new Map<string, number[]>();
    for (const o of ok) {
      const perOp = new Map<string, number>();
      for (const l of o.lambda) perOp.set(l.fn, (perOp.get(l.fn) ?? 0) + l.ms);
      for (const [fn, ms] of perOp) byFn.set(fn, [...(byFn.get(fn) ?? []), ms]);
    }
    return {
      count: ops.length,
      succeeded: ok.length,
      statuses: [...new Set(ops.map((o) => o.status))],
      transitions: { median: median(ok.map((o) => o.transitions)), max: Math.max(...ok.map((o) => o.transitions)) },
      lambdaInvocations: median(ok.map((o) => o.lambda.length)),
      lambdaMsByFunction: Object.fromEntries([...byFn].map(([fn, ms]) => [fn, round(median(ms), 1)])),
      s3: { put: median(ok.map((o) => o.s3.put)), get: median(ok.map((o) => o.s3.get)), delete: median(ok.map((o) => o.s3.delete)) },
      dollarsPerOp: {
        transitions: med((c) => c.transitions),
        lambdaCompute: med((c) => c.lambdaCompute),
        lambdaRequests: med((c) => c.lambdaRequests),
        s3: med((c) => c.s3),
        total: med((c) => c.total),
      },
    };
  };
  const inst = summarizeOps(installs);
  const uninst = summarizeOps(uninstalls);
  const breakdown = (s: typeof inst) =>
    `transitions ${per1000(s.dollarsPerOp.transitions)}, Lambda GB-s ${per1000(s.dollarsPerOp.lambdaCompute)}, Lambda requests ${per1000(s.dollarsPerOp.lambdaRequests)} (${s.lambdaInvocations} invocations), S3 ${per1000(s.dollarsPerOp.s3)} (${s.s3.put} PUT, ${s.s3.get} GET)`;

  const rows: Row[] = [
    row({
      metric: 'State transitions per successful install (health gate included)',
      value: inst.transitions.max,
      unit: 'transitions',
      target: { op: '<=', value: 9, unit: 'transitions' },
      alsoRequired: inst.succeeded === inst.count,
      measured: `${inst.transitions.median} (max ${inst.transitions.max})`,
      notes: `${inst.succeeded}/${inst.count} installs succeeded; counted from the local engine's event log (every state entered + every retry)`,
    }),
    row({
      metric: 'State transitions per uninstall',
      value: uninst.transitions.max,
      unit: 'transitions',
      measured: `${uninst.transitions.median} (max ${uninst.transitions.max})`,
      notes: `${uninst.succeeded}/${uninst.count} uninstalls succeeded`,
    }),
    row({
      metric: '$ per 1 000 installs',
      value: inst.dollarsPerOp.total * 1000,
      unit: 'USD per 1 000',
      measured: per1000(inst.dollarsPerOp.total),
      notes: breakdown(inst),
    }),
    row({
      metric: '$ per 1 000 uninstalls',
      value: uninst.dollarsPerOp.total * 1000,
      unit: 'USD per 1 000',
      measured: per1000(uninst.dollarsPerOp.total),
      notes: breakdown(uninst),
    }),
  ];
  // Sensitivity: on AWS, Deliver and Restart each wait for an SSM command (typically 1–3 s end to end).
  const ssmSeconds = 2;
  const ssmExtra = ['Deliver', 'Restart'].reduce((a, fn) => a + ssmSeconds * (memoryOf(fn) / 1024) * PRICES.lambdaGbSecondArm, 0);
  const findings = [
    `Prices (us-east-1, on demand): Step Functions Standard $0.025 per 1 000 transitions; Lambda arm64 $0.0000133334 per GB-s and $0.20 per 1M requests, at each function's MemorySize from the synthesized template (${synth.functions.map((f) => `${f.name} ${f.memoryMb} MB`).join(', ')}); S3 PUT/COPY/POST/LIST $0.005 per 1 000, GET/HEAD $0.0004 per 1 000, DELETE free. Free tiers, data transfer, CloudWatch Logs, X-Ray, RDS and API Gateway ($1.00 per 1M HTTP API requests) are not included.`,
    `Per operation, as a client that polls once: the accepting request and one status read (2 API invocations, which authenticate the token themselves; API duration = the measured HTTP latency here), plus one invocation per Task state with its measured duration (StateEntered → StateExited), billed per started ms. ${operations} installs then ${operations} uninstalls, sequential, on fresh workspaces, after one warm-up pair; medians.`,
    `Install: ${inst.transitions.median} transitions; Lambda ms by function (median per install): ${Object.entries(inst.lambdaMsByFunction)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; S3 requests counted at a proxy in front of the local S3: ${JSON.stringify(s3Detail.install)} over ${operations} installs.`,
    `Uninstall: ${uninst.transitions.median} transitions; Lambda ms by function: ${Object.entries(uninst.lambdaMsByFunction)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; S3: ${JSON.stringify(s3Detail.uninstall)}.`,
    `Caveat: durations are local (emulated S3 and SSM on loopback, this CPU). On AWS, Deliver and Restart wait for SSM Run Command; at ${ssmSeconds} s each that adds ${per1000(ssmExtra)} per 1 000 installs in Lambda GB-s. Transitions and request counts do not depend on the machine.`,
  ];
  return {
    name: 'Cost',
    rows,
    findings,
    data: { prices: PRICES, operations, install: inst, uninstall: uninst, s3Detail, ssmSensitivityPer1000: round(ssmExtra * 1000, 6) },
  };
}
