import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem, type } from 'node:os';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  os: string;
  /** 1-minute load average when the run started */
  loadAverageAtStart: number;
  /** share of all cores busy in the second before the run: others' work on a shared machine shows here */
  cpuBusyBeforeRunPct?: number;
}

function cpuTimes(): { idle: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
    return { idle, total: fields.reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}

export interface CpuSnapshot {
  machine: { idle: number; total: number };
  /** this process and every child it has reaped, in the same clock ticks as /proc/stat */
  ours: number;
}

/** Linux only: the machine's CPU counters and ours (utime + stime + cutime + cstime). */
export function cpuSnapshot(): CpuSnapshot | undefined {
  const machine = cpuTimes();
  if (!machine) return undefined;
  try {
    // Fields after the command name (which may contain spaces): utime is the 12th of those.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    return { machine, ours: f[11]! + f[12]! + f[13]! + f[14]! };
  } catch {
    return undefined;
  }
}

/**
 * Share of the machine's CPU capacity used by processes outside this benchmark between two
 * snapshots (children must have exited and been waited for, so their time is counted as ours).
 */
export function otherCpuPercent(a: CpuSnapshot | undefined, b: CpuSnapshot | undefined): number | undefined {
  if (!a || !b) return undefined;
  const total = b.machine.total - a.machine.total;
  if (total <= 0) return undefined;
  const busy = total - (b.machine.idle - a.machine.idle);
  const others = Math.max(0, busy - (b.ours - a.ours));
  return Math.round((others / total) * 1000) / 10;
}

/** How busy the machine's CPUs were over the next `ms` (Linux; undefined elsewhere). */
export async function cpuBusyPercent(ms = 1000): Promise<number | undefined> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  if (!a || !b || b.total === a.total) return undefined;
  return Math.round((1 - (b.idle - a.idle) / (b.total - a.total)) * 1000) / 10;
}

/** What every absolute number in the report was measured on. */
export function machineInfo(): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) cpuModel = line.split(':').slice(1).join(':').trim();
  } catch {
    // not Linux: os.cpus() is good enough
  }
  return {
    nproc: availableParallelism(),
    cpuModel,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    os: `${type()} ${release()}`,
    loadAverageAtStart: Math.round(loadavg()[0]! * 100) / 100,
  };
}

export function describeMachine(m: MachineInfo): string {
  return `${m.nproc} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.os}`;
}
