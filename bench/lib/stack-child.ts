/**
 * The local stack (`startLocalStack`, what `npm start` runs) in its own process, controlled by
 * the benchmark over IPC. One stack per measurement keeps them from polluting each other, and
 * the load generator runs in the parent, on its own event loop.
 *
 *   fork('bench/lib/stack-child.ts', [JSON options], { execArgv: ['--import', 'tsx'] })
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { EngineEvent, ExecutionStatus } from '../../local/sfn/engine.js';

export interface StackChildOptions {
  localDir: string;
  adminToken: string;
  registryDirs: string[];
  databaseUrl?: string;
  /** Put a counting proxy in front of the local S3 (cost measurement). */
  countS3?: boolean;
  /** Put a round-trip counting proxy between the API's thread and the database (accept cost). */
  countApiDatabase?: boolean;
}

/** What the `usage` command reports since its previous call. */
export interface StackUsage {
  /** the main thread's event loop: engine, steps, emulators, embedded database */
  eventLoopUtilization: number;
  /**
   * the whole stack: its process, every thread (the API's included), and its long-lived child
   * processes (the embedded database, the host spawner); not the short-lived host commands
   */
  cpuMs: number;
  /** of which the child processes */
  childrenCpuMs: number;
  rss: number;
  /** the API's own thread */
  api: { cpuMs: number; eventLoopUtilization: number };
}

export interface StateTiming {
  name: string;
  type: string;
  ms: number;
  outcome: 'exited' | 'failed';
}

export interface ExecutionSummary {
  name: string;
  status: ExecutionStatus;
  error?: string;
  transitionCount: number;
  retries: number;
  durationMs: number;
  startedAt: number;
  states: StateTiming[];
}

export interface Ready {
  type: 'ready';
  url: string;
  adminToken: string;
  localDir: string;
  databaseEmbedded: boolean;
}

export type Command =
  | { cmd: 'executions'; names?: string[] }
  | { cmd: 'statusCounts' }
  | { cmd: 'waitIdle'; timeoutMs: number }
  | { cmd: 'waitExecution'; name: string; timeoutMs: number }
  | { cmd: 'stopRunning' }
  | { cmd: 'usage' }
  | { cmd: 's3Counts' }
  | { cmd: 'dbRoundTrips' }
  /** Publishes a plugin directory to the local registry, replacing a plugin of the same name. */
  | { cmd: 'publish'; dir: string }
  | { cmd: 'close' };

function summarize(name: string, status: ExecutionStatus, error: string | undefined, events: EngineEvent[], transitionCount: number): ExecutionSummary {
  const open = new Map<string, { at: number; type: string }>();
  const states: StateTiming[] = [];
  let retries = 0;
  for (const e of events) {
    const at = e.timestamp.getTime();
    if (e.type === 'StateRetried') retries += 1;
    if (!e.state) continue;
    if (e.type === 'StateEntered') open.set(e.state.name, { at, type: e.state.type });
    if (e.type === 'StateExited' || e.type === 'StateFailed') {
      const start = open.get(e.state.name);
      if (start) states.push({ name: e.state.name, type: start.type, ms: at - start.at, outcome: e.type === 'StateExited' ? 'exited' : 'failed' });
      open.delete(e.state.name);
    }
  }
  const first = events[0]?.timestamp.getTime() ?? 0;
  const last = events[events.length - 1]?.timestamp.getTime() ?? first;
  return { name, status, error, transitionCount, retries, durationMs: last - first, startedAt: first, states };
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as StackChildOptions;
  const { startLocalStack } = await import('../../local/stack.js');
  let proxy: Awaited<ReturnType<typeof import('./s3-proxy.js').startCountingProxy>> | undefined;
  let dbProxy: Awaited<ReturnType<typeof import('./pg-proxy.js').startPgCountingProxyThread>> | undefined;
  const stack = await startLocalStack({
    port: 0,
    localDir: opts.localDir,
    adminToken: opts.adminToken,
    registryDirs: opts.registryDirs,
    ephemeralDatabase: true,
    ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
    interpose: {
      // Every Lambda runtime (API, steps, presigned URLs for the hosts) talks to S3 through the proxy.
      ...(opts.countS3 && {
        s3: async (url: string) => {
          const { startCountingProxy } = await import('./s3-proxy.js');
          proxy = await startCountingProxy(url);
          return proxy.url;
        },
      }),
      // Only the API's thread: the background workflows' queries are not the accept path's.
      ...(opts.countApiDatabase && {
        apiDatabase: async (url: string) => {
          const { startPgCountingProxyThread } = await import('./pg-proxy.js');
          dbProxy = await startPgCountingProxyThread(url);
          return dbProxy.url;
        },
      }),
    },
  });

  const engine = stack.engine;
  // Executions are named `install-<ws>-<plugin>-<8 hex>`; the benchmarks know operation ids, which the input carries.
  const operationIdOf = (input: string): string | undefined => (JSON.parse(input) as { operationId?: string }).operationId;
  const execSummary = (arn: string) => {
    const d = engine.describeExecution(arn);
    const h = engine.history(arn);
    return summarize(operationIdOf(d.input) ?? d.name, d.status, d.error, h.events, h.transitionCount);
  };
  const arnOf = (operationId: string) => {
    const found = engine.listExecutions().find((d) => operationIdOf(d.input) === operationId || d.name === operationId);
    if (!found) throw new Error(`no execution for operation ${operationId}`);
    return found.executionArn;
  };
  let eluStart = performance.eventLoopUtilization();
  let cpuStart = process.cpuUsage();
  let childrenCpuStart = childrenCpuMs();
  await stack.apiUsage(); // starts the API thread's meter here too

  const handle = async (command: Command): Promise<unknown> => {
    switch (command.cmd) {
      case 'executions': {
        const all = engine.listExecutions();
        const wanted = command.names ? new Set(command.names) : undefined;
        return all.filter((d) => !wanted || wanted.has(operationIdOf(d.input) ?? d.name)).map((d) => execSummary(d.executionArn));
      }
      case 'statusCounts': {
        const counts: Record<string, number> = {};
        for (const d of engine.listExecutions()) counts[d.status] = (counts[d.status] ?? 0) + 1;
        return counts;
      }
      case 'waitIdle': {
        const deadline = Date.now() + command.timeoutMs;
        while (engine.listExecutions({ status: 'RUNNING' }).length > 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 10));
        }
        return engine.listExecutions({ status: 'RUNNING' }).length;
      }
      case 'waitExecution': {
        const arn = arnOf(command.name);
        const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), command.timeoutMs).unref());
        const done = await Promise.race([engine.waitForExecution(arn), timeout]);
        if (done === 'timeout') throw new Error(`execution ${command.name} did not finish in ${command.timeoutMs} ms`);
        return execSummary(arn);
      }
      case 'stopRunning': {
        const running = engine.listExecutions({ status: 'RUNNING' });
        for (const d of running) engine.stopExecution(d.executionArn, { error: 'BenchStopped', cause: 'benchmark phase ended' });
        return running.length;
      }
      case 'usage': {
        const api = await stack.apiUsage();
        const elu = performance.eventLoopUtilization(eluStart);
        const cpu = process.cpuUsage(cpuStart);
        const children = childrenCpuMs();
        const childrenMs = children - childrenCpuStart;
        eluStart = performance.eventLoopUtilization();
        cpuStart = process.cpuUsage();
        childrenCpuStart = children;
        const usage: StackUsage = {
          eventLoopUtilization: elu.utilization,
          cpuMs: (cpu.user + cpu.system) / 1000 + childrenMs,
          childrenCpuMs: childrenMs,
          rss: process.memoryUsage().rss,
          api,
        };
        return usage;
      }
      case 's3Counts':
        if (!proxy) throw new Error('the stack was started without countS3');
        return proxy.counts();
      case 'dbRoundTrips':
        if (!dbProxy) throw new Error('the stack was started without countApiDatabase');
        return dbProxy.read();
      case 'publish': {
        const [{ seedRegistry }, { getRuntime }, { createS3Client }, { logger }] = await Promise.all([
          import('../../local/registry.js'),
          import('../../lambdas/runtime.js'),
          import('../../lambdas/shared/aws.js'),
          import('../../lambdas/shared/logger.js'),
        ]);
        const rt = await getRuntime();
        await seedRegistry(await createS3Client(rt.aws), { bucket: rt.config.registryBucket, prefix: rt.config.registryPrefix }, [command.dir], {
          limits: rt.config.limits,
          log: logger,
        });
        return true;
      }
      case 'close':
        await stack.close();
        await proxy?.close();
        await dbProxy?.close();
        return true;
    }
  };

  process.on('message', (message: { id: number } & Command) => {
    handle(message).then(
      (result) => {
        process.send?.({ id: message.id, ok: true, result });
        if (message.cmd === 'close') setTimeout(() => process.exit(0), 50);
      },
      (err: Error) => process.send?.({ id: message.id, ok: false, error: err.stack ?? String(err) }),
    );
  });
  // The parent going away ends the stack too.
  process.on('disconnect', () => {
    void stack.close().finally(() => process.exit(0));
  });
  const ready: Ready = { type: 'ready', url: stack.url, adminToken: stack.adminToken, localDir: stack.localDir, databaseEmbedded: stack.databaseEmbedded };
  process.send?.(ready);
}

main().catch((err: Error) => {
  process.stderr.write(`stack child failed: ${err.stack ?? err}\n`);
  process.exit(1);
});

/**
 * CPU used so far by this process's live child processes (Linux: `/proc/<pid>/stat` utime +
 * stime, 10 ms ticks); 0 where /proc does not list them.
 */
function childrenCpuMs(): number {
  let total = 0;
  try {
    for (const task of readdirSync('/proc/self/task')) {
      for (const pid of readFileSync(`/proc/self/task/${task}/children`, 'utf8').split(' ').filter(Boolean)) {
        try {
          // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
          const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()!.split(' ');
          total += (Number(fields[11]) + Number(fields[12])) * 10;
        } catch {
          // exited meanwhile
        }
      }
    }
  } catch {
    return 0;
  }
  return total;
}
