import type { OperationKind } from './types.js';

/** Step Functions' limits on an execution name: at most 80 characters; we keep to `[A-Za-z0-9_-]`. */
export const EXECUTION_NAME_MAX = 80;
const HEX_CHARS = 8;

/** `[A-Za-z0-9_-]` only: anything else (a `.` in a plugin name, say) becomes `-`, runs of `-` collapse. */
function sanitize(text: string): string {
  return text
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * The execution's name says what it does: `install-<workspace>-<plugin>-<8 hex of the operation id>`
 * (or `uninstall-…`; a verify or a repair, about the whole workspace, is `verify-<workspace>-<8 hex>`). Workspace and plugin are sanitized and, when together they would pass 80
 * characters, shortened (the longer first, neither below its fair half); the 8 hex of the
 * operation id are always kept, so two operations never share a name in practice and the name
 * leads back to its operation (the full id stays in the execution's input).
 */
export function executionName(op: { kind: OperationKind; workspaceId: string; plugin: string | null; operationId: string }): string {
  const hex = op.operationId
    .replace(/[^0-9a-fA-F]/g, '')
    .slice(0, HEX_CHARS)
    .toLowerCase()
    .padEnd(HEX_CHARS, '0');
  const workspace = sanitize(op.workspaceId) || 'workspace';
  if (op.plugin === null && (op.kind === 'verify' || op.kind === 'repair')) {
    return `${op.kind}-${workspace.slice(0, EXECUTION_NAME_MAX - op.kind.length - HEX_CHARS - 2).replace(/-+$/, '')}-${hex}`;
  }
  const plugin = sanitize(op.plugin ?? '') || 'plugin';
  const budget = EXECUTION_NAME_MAX - op.kind.length - HEX_CHARS - 3;
  const [w, p] = shorten(workspace, plugin, budget);
  return `${op.kind}-${w}-${p}-${hex}`;
}

/** Shortens two parts to `budget` characters in all, taking from the longer one first. */
function shorten(a: string, b: string, budget: number): [string, string] {
  if (a.length + b.length <= budget) return [a, b];
  const half = Math.floor(budget / 2);
  const aLen = a.length <= half ? a.length : b.length <= budget - half ? budget - b.length : half;
  const trim = (s: string, n: number) => s.slice(0, n).replace(/-+$/, '') || s.slice(0, 1);
  return [trim(a, aLen), trim(b, budget - aLen)];
}

/**
 * The AWS console page of an execution, from its ARN (partition and region are in it); null for
 * an ARN that is not a real one: the local engine's account `000000000000`, or no ARN at all.
 */
export function consoleUrlFor(executionArn: string | null): string | null {
  if (!executionArn) return null;
  const parts = executionArn.split(':');
  if (parts.length < 8 || parts[0] !== 'arn' || parts[2] !== 'states' || parts[5] !== 'execution') return null;
  const [, partition, , region, account] = parts;
  if (!region || !/^\d{12}$/.test(account ?? '') || account === '000000000000') return null;
  const host = CONSOLE_HOSTS[partition ?? ''];
  if (!host) return null;
  return `https://${region}.${host}/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

const CONSOLE_HOSTS: Record<string, string> = {
  aws: 'console.aws.amazon.com',
  'aws-cn': 'console.amazonaws.cn',
  'aws-us-gov': 'console.amazonaws-us-gov.com',
};
