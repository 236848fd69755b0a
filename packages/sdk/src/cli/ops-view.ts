import type { Operation, StepRecord } from '../client.js';
import { table } from './format.js';

/**
 * How the CLI shows an operation to ops: per step its status, duration, attempts (with what each
 * retry followed), transport, SSM command id or SSH host, and on failure the error and the host's
 * last output lines; the `watch` frame of running and recently failed operations; and the outcome
 * and step lines an install or uninstall prints while it waits.
 */

function duration(step: StepRecord): string {
  const ms = step.durationMs ?? (step.endedAt ? Date.parse(step.endedAt) - Date.parse(step.startedAt) : undefined);
  if (ms === undefined) return 'running';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function attempts(step: StepRecord): string {
  const n = step.attempts ?? 1;
  const retries = step.retries ?? [];
  const after = retries.length ? ` (retried after ${retries.map((r) => r.error).join(', ')})` : '';
  return `${n} attempt${n === 1 ? '' : 's'}${after}`;
}

/** The step lines of `status`. */
export function explainSteps(op: Operation): string[] {
  const width = Math.max(4, ...op.steps.map((s) => s.name.length));
  const lines: string[] = [];
  for (const step of op.steps) {
    const reach = [step.transport, step.commandId && `command ${step.commandId}`, step.sshHost && `host ${step.sshHost}`].filter(Boolean).join(', ');
    lines.push(`  ${step.name.padEnd(width)}  ${step.status.padEnd(9)}  ${duration(step).padEnd(9)}  ${attempts(step)}${reach ? `  via ${reach}` : ''}`);
    if (step.error) lines.push(`  ${' '.repeat(width)}  error ${step.error.code}: ${step.error.message}`);
    if (step.outputTail?.length) {
      lines.push(`  ${' '.repeat(width)}  host output (last ${step.outputTail.length} lines):`);
      for (const line of step.outputTail) lines.push(`  ${' '.repeat(width)}  | ${line}`);
    }
  }
  return lines;
}

/** The header lines of `status`: where the operation runs and how to find its execution. */
export function explainHeader(op: Operation): string[] {
  return [
    `workspace ${op.workspaceId}${op.orgId ? ` (org ${op.orgId})` : ''}, ${op.kind} ${op.plugin ?? op.source ?? ''}, ${op.status}, created ${op.createdAt}`,
    ...(op.executionName ? [`execution ${op.executionName}`] : []),
    ...(op.consoleUrl ? [`console ${op.consoleUrl}`] : []),
  ];
}

/** The step a running operation is at, or the one a failed operation failed in. */
export function currentStep(op: Operation): StepRecord | undefined {
  if (op.status === 'FAILED') return op.steps.find((s) => s.status === 'FAILED' && s.name !== 'RecordFailure') ?? op.steps.at(-1);
  return op.steps.findLast((s) => s.status === 'RUNNING') ?? op.steps.at(-1);
}

function age(from: string, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(from)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

/** One `watch` frame: a table of operations, newest first. */
export function watchFrame(title: string, operations: Operation[], now: Date): string {
  const rows = [['AGE', 'STATUS', 'KIND', 'WORKSPACE', 'PLUGIN', 'STEP', 'ATTEMPTS', 'ERROR', 'OPERATION']];
  for (const op of operations) {
    const step = currentStep(op);
    rows.push([
      age(op.createdAt, now),
      op.status,
      op.kind,
      op.workspaceId,
      op.plugin ?? op.source ?? '-',
      step ? `${step.name}${step.status === 'RUNNING' ? '…' : ''}` : '-',
      step ? String(step.attempts ?? 1) : '-',
      op.error?.code ?? step?.error?.code ?? '',
      op.operationId,
    ]);
  }
  const empty = operations.length === 0 ? '\n(no operations match)' : '';
  return `${title}\n${table(rows)}${empty}\n`;
}

/** A step's state while an install or uninstall waits: `running`, or how it ended and how long it took. */
export function stepProgress(step: StepRecord): string {
  if (step.status === 'RUNNING') return 'running';
  const seconds = step.endedAt ? ` (${((Date.parse(step.endedAt) - Date.parse(step.startedAt)) / 1000).toFixed(2)} s)` : '';
  return `${step.status.toLowerCase()}${seconds}`;
}

/** What became of an operation: done, running or failed (with the error), its warnings and its id. */
export function outcome(op: Operation): string {
  const done = op.status === 'SUCCEEDED';
  const what = {
    install: done ? 'installed' : 'install',
    uninstall: done ? 'uninstalled' : 'uninstall',
    rollback: done ? 'rolled back' : 'rollback',
    plan: done ? 'planned' : 'plan',
    verify: done ? 'verified' : 'verify',
    repair: done ? 'repaired' : 'repair',
  }[op.kind];
  // A verify or a repair is about the whole workspace.
  const whole = op.kind === 'verify' || op.kind === 'repair';
  const subject = whole ? `workspace ${op.workspaceId}` : (op.plugin ?? op.source);
  const lines = [
    op.status === 'FAILED'
      ? `${what} of ${subject} failed: ${op.error?.message ?? 'unknown error'} (${op.error?.code ?? 'unknown'})`
      : op.status === 'RUNNING'
        ? `${what} of ${subject} is running`
        : whole
          ? `${what} ${subject}`
          : `${what} ${op.plugin}${op.kind === 'rollback' && op.revision !== undefined ? ` to revision ${op.revision}` : ''}${op.sha256 && (op.kind === 'install' || op.kind === 'rollback') ? ` (sha256 ${op.sha256})` : ''} on ${op.workspaceId}`,
    ...repairLines(op),
    ...(op.error?.output?.length ? ['the health check printed:', ...op.error.output.map((line) => `  ${line}`)] : []),
    // signature_invalid: why, whose key, and the statement it was checked against (SPEC §11).
    ...(op.error?.reason ? [`reason: ${op.error.reason}${op.error.fingerprint ? ` (key ${op.error.fingerprint})` : ''}`] : []),
    ...(op.error?.statement ? [`statement: ${op.error.statement}`] : []),
    ...(op.signer ? [`signed by ${op.signer.principal} (${op.signer.fingerprint})`] : []),
    ...op.warnings.map((w) => `warning: ${w}`),
    `operation ${op.operationId}`,
  ];
  return lines.join('\n');
}

/** What a finished repair changed, and for a verify whether the host drifted. */
function repairLines(op: Operation): string[] {
  if (op.repair) {
    const { mode, plugins, debris, restarted } = op.repair;
    const what = plugins.map((p) => `${p.action} ${p.name}${p.revision !== undefined ? ` (revision ${p.revision})` : ''}`);
    const removed = debris.map((path) => `removed plugins/${path}`);
    const changed = [...what, ...removed];
    return [`${mode}: ${changed.length ? changed.join(', ') : 'nothing to mend'}${restarted ? '; restarted' : ''}`];
  }
  if (op.kind === 'verify' && op.verify) return [op.verify.drift ? 'drifted from the records: molecule-plugins verify shows how' : 'in sync with the records'];
  return [];
}
