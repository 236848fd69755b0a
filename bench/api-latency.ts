/**
 * 2. API accept latency: POST /workspaces/{id}/plugins (validation, auth, DB, StartExecution to
 * the local engine) answered 202, at concurrency 1 and 32, over keep-alive HTTP from this process
 * to the local stack running in a child process (the API in its own worker thread there). Also
 * what one accept costs: the API thread's CPU and its database round trips, counted by a proxy
 * between the API thread and the database that reads the wire protocol (`lib/pg-proxy.ts`).
 */
import { availableParallelism } from 'node:os';
import { HttpClient, instanceId, pool, setupWorkspaces } from './lib/http.js';
import type { PgRoundTrips } from './lib/pg-proxy.js';
import type { StackUsage } from './lib/stack-child.js';
import { type Row, row, type SectionResult } from './lib/report.js';
import { startStack } from './lib/stack-host.js';
import { fmtMs, round, summarize, type Summary } from './lib/stats.js';

export interface ApiLatencyOptions {
  tmpDir: string;
  requests?: number;
  concurrencies?: number[];
  workspaces?: number;
  warmup?: number;
  /** requests measured one at a time with nothing running in the background */
  isolated?: number;
}

const machineCores = () => availableParallelism();

/** Round trips per accepted request, and each statement's share, e.g. `{ "SELECT … auth_tokens": 1 }`. */
function perRequest(trips: PgRoundTrips, accepted: number): { roundTrips: number; statements: Record<string, number> } {
  const per = (n: number) => round(n / Math.max(1, accepted), 2);
  const statements = Object.fromEntries(
    Object.entries(trips.statements)
      .sort(([, a], [, b]) => b - a)
      .map(([sql, n]) => [sql, per(n)]),
  );
  return { roundTrips: per(trips.roundTrips), statements };
}

/** In no registry: every accepted install's workflow ends at Stage (see the findings). */
const SOURCE = 'local://bench-not-in-registry';

export async function runApiLatency(opts: ApiLatencyOptions): Promise<SectionResult> {
  const requests = opts.requests ?? 2000;
  const concurrencies = opts.concurrencies ?? [1, 32];
  const workspaceCount = opts.workspaces ?? 200;
  const warmup = opts.warmup ?? 50;
  const isolated = opts.isolated ?? 200;
  const stack = await startStack({ tmpDir: opts.tmpDir, name: 'api', registryDirs: [], countApiDatabase: true });
  const http = new HttpClient(stack.url, Math.max(...concurrencies) + 4);
  const rows: Row[] = [];
  const findings: string[] = [];
  const data: Record<string, unknown> = { requests, workspaces: workspaceCount, source: SOURCE };
  try {
    const workspaces = Array.from({ length: workspaceCount }, (_, i) => ({ id: `ws-api-${String(i).padStart(3, '0')}`, instanceId: instanceId(1, i) }));
    const token = await setupWorkspaces(http, stack.adminToken, 'bench', workspaces);
    let sent = 0;
    const install = async (): Promise<{ status: number; ms: number }> => {
      const ws = workspaces[sent++ % workspaceCount]!;
      const res = await http.request('POST', `/workspaces/${ws.id}/plugins`, { token, body: { source: SOURCE } });
      return { status: res.status, ms: res.ms };
    };

    for (const concurrency of concurrencies) {
      await pool(warmup, concurrency, async () => void (await install()));
      await stack.call<number>({ cmd: 'waitIdle', timeoutMs: 60_000 });
      await stack.call<StackUsage>({ cmd: 'usage' }); // resets the child's CPU / event-loop counters
      await stack.call<PgRoundTrips>({ cmd: 'dbRoundTrips' }); // and the API's database round trips

      const latencies: number[] = [];
      const statuses: Record<number, number> = {};
      const started = performance.now();
      await pool(requests, concurrency, async () => {
        const { status, ms } = await install();
        statuses[status] = (statuses[status] ?? 0) + 1;
        latencies.push(ms);
      });
      const wallMs = performance.now() - started;
      const usage = await stack.call<StackUsage>({ cmd: 'usage' });
      const trips = perRequest(await stack.call<PgRoundTrips>({ cmd: 'dbRoundTrips' }), statuses[202] ?? 0);
      const drainStarted = performance.now();
      const stillRunning = await stack.call<number>({ cmd: 'waitIdle', timeoutMs: 60_000 });
      const drainMs = performance.now() - drainStarted;
      if (stillRunning > 0) await stack.call<number>({ cmd: 'stopRunning' });

      const s: Summary = summarize(latencies);
      const rps = requests / (wallMs / 1000);
      const errors = requests - (statuses[202] ?? 0);
      rows.push(
        row({
          metric: `API accept, concurrency ${concurrency}: p99 (p50 in the text)`,
          value: round(s.p99, 2),
          unit: 'ms',
          target: concurrency === 32 ? { op: '<', value: 50, unit: 'ms' } : null,
          alsoRequired: errors === 0,
          measured: `${fmtMs(s.p50)} / ${fmtMs(s.p99)}, ${round(rps, 0)} req/s`,
          notes: `${requests} POSTs → ${statuses[202] ?? 0}× 202${errors ? `, ${errors} other (${JSON.stringify(statuses)})` : ''}; API thread ${round(usage.api.eventLoopUtilization * 100, 0)} % busy at ${round(usage.api.cpuMs / requests, 2)} ms CPU per request; main thread (engine, steps, emulators) ${round(usage.eventLoopUtilization * 100, 0)} % busy; ${round(usage.cpuMs / requests, 1)} ms stack CPU per request in all threads`,
        }),
      );
      rows.push(
        row({
          metric: `API accept, concurrency ${concurrency}: API thread CPU per accepted request`,
          value: round(usage.api.cpuMs / Math.max(1, statuses[202] ?? 0), 2),
          unit: 'ms',
          measured: `${round(usage.api.cpuMs / Math.max(1, statuses[202] ?? 0), 2)} ms`,
          notes: `user + system CPU of the API's worker thread (/proc/thread-self/stat, 10 ms ticks) over ${requests} requests, divided by the 202s`,
        }),
        row({
          metric: `API accept, concurrency ${concurrency}: database round trips per accepted request`,
          value: trips.roundTrips,
          unit: 'round trips',
          target: { op: '<=', value: 4, unit: 'round trips' },
          measured: `${trips.roundTrips}`,
          notes: `Query + Sync messages from the API thread, counted by a wire-protocol proxy: ${Object.entries(trips.statements)
            .map(([sql, n]) => `${n}× ${sql.slice(0, 60)}`)
            .join(' | ')}`,
        }),
      );
      data[`c${concurrency}`] = {
        latencyMs: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v as number, 2)])),
        requestsPerSecond: round(rps, 1),
        wallMs: round(wallMs, 0),
        statuses,
        stackEventLoopUtilization: round(usage.eventLoopUtilization, 3),
        stackCpuMsPerRequest: round(usage.cpuMs / requests, 2),
        apiThreadEventLoopUtilization: round(usage.api.eventLoopUtilization, 3),
        apiThreadCpuMsPerAccepted: round(usage.api.cpuMs / Math.max(1, statuses[202] ?? 0), 3),
        databaseRoundTripsPerAccepted: trips,
        backgroundDrainMs: round(drainMs, 0),
        stoppedUnfinished: stillRunning,
      };
      findings.push(
        `Concurrency ${concurrency}: ${requests} requests in ${round(wallMs / 1000, 1)} s; latency min ${fmtMs(s.min)}, p50 ${fmtMs(s.p50)}, p90 ${fmtMs(s.p90)}, p99 ${fmtMs(s.p99)}, max ${fmtMs(s.max)}. The API thread was ${round(usage.api.eventLoopUtilization * 100, 0)} % busy at ${round(usage.api.cpuMs / requests, 2)} ms of its own CPU per request, ${trips.roundTrips} database round trips per accepted request; the main thread (engine, steps, emulators) ${round(usage.eventLoopUtilization * 100, 0)} % busy; the whole stack (its threads, its database and host-spawner processes) ${round(usage.cpuMs / requests, 1)} ms CPU per request, accept plus its background workflow; the workflows still running at the end drained in ${round(drainMs / 1000, 1)} s.${concurrency > 1 ? ` Queueing: ${concurrency} in flight / ${round(rps, 0)} req/s = ${fmtMs((concurrency / rps) * 1000)} (Little's law) against a measured p50 of ${fmtMs(s.p50)}. A closed loop of ${concurrency} clients under 50 ms needs ${concurrency * 20} req/s, i.e. at most ${round((machineCores() * 1000) / (concurrency * 20), 1)} ms of CPU per request across all ${machineCores()} cores, accept plus its background workflow; this run spent ${round(usage.cpuMs / requests, 1)} ms.` : ''}`,
      );
    }
    // The accept path on its own: one request at a time, each sent only once the previous one's
    // workflow has ended, so nothing runs in the background while it is served.
    if (isolated > 0) {
      const latencies: number[] = [];
      await stack.call<number>({ cmd: 'waitIdle', timeoutMs: 30_000 });
      await stack.call<StackUsage>({ cmd: 'usage' });
      await stack.call<PgRoundTrips>({ cmd: 'dbRoundTrips' });
      for (let i = 0; i < isolated; i++) {
        await stack.call<number>({ cmd: 'waitIdle', timeoutMs: 30_000 });
        const { status, ms } = await install();
        if (status !== 202) throw new Error(`isolated accept answered ${status}`);
        latencies.push(ms);
      }
      const s = summarize(latencies);
      const usage = await stack.call<StackUsage>({ cmd: 'usage' });
      const raw = await stack.call<PgRoundTrips>({ cmd: 'dbRoundTrips' });
      const trips = perRequest(raw, isolated);
      data.isolatedCost = { apiThreadCpuMsPerAccepted: round(usage.api.cpuMs / isolated, 3), databaseRoundTripsPerAccepted: trips };
      findings.push(
        `Accept cost, measured alone: ${round(usage.api.cpuMs / isolated, 2)} ms of API-thread CPU and ${trips.roundTrips} database round trips per request: ${Object.entries(
          trips.statements,
        )
          .map(([sql, n]) => `${n}× \`${sql}\``)
          .join('; ')}.`,
      );
      rows.push(
        row({
          metric: 'API accept, concurrency 1, nothing in the background: p99 (p50 in the text)',
          value: round(s.p99, 2),
          unit: 'ms',
          measured: `${fmtMs(s.p50)} / ${fmtMs(s.p99)}`,
          notes: `${isolated} requests, each sent once the previous one's workflow had ended: the accept path without contention`,
        }),
      );
      data.isolated = { latencyMs: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v as number, 2)])) };
      findings.push(
        `Accept alone (${isolated} requests, each sent once the previous one's workflow had ended, so nothing else runs in the stack): p50 ${fmtMs(s.p50)}, p90 ${fmtMs(s.p90)}, p99 ${fmtMs(s.p99)}.`,
      );
    }
    await stack.call<number>({ cmd: 'waitIdle', timeoutMs: 30_000 });
    const executions = await stack.call<Record<string, number>>({ cmd: 'statusCounts' });
    data.executions = executions;
    findings.unshift(
      `${workspaceCount} workspaces, requests round-robin over them; ${warmup} warm-up requests per concurrency level (not counted); client: keep-alive node:http in the benchmark process, stack in its own process: the API in a worker thread of its own${stack.databaseEmbedded ? ', PGlite in another' : ''}, the engine, the step handlers, S3 and the SSM emulator on the main thread. The API thread's database connections go through a round-trip counting proxy (lib/pg-proxy.ts); the steps' do not.`,
      `What ran in the background: every accepted install started a real execution on the local engine, but its source (\`${SOURCE}\`) is not in the registry, so each workflow ends after Stage (SourceNotFound → RecordFailure → Failed, 4 transitions). The accept path is the same as for any plugin (the API only checks the source's syntax); running 4 000 full deliveries (each ~100 ms of stack CPU plus two SSM shell commands, see End to end) would not fit the 10-minute budget on 2 cores. Executions at the end: ${JSON.stringify(executions)}.`,
      'Latency is per request from the client (connect reuse, request, response body read). Throughput = requests / wall time of the measured loop.',
    );
  } finally {
    http.close();
    await stack.close();
  }
  return { name: 'API accept latency', rows, findings, data };
}
