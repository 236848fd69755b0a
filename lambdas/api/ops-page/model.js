// @ts-check
/**
 * What the ops page shows, as plain functions of the API's data (no DOM): the workflow's steps in
 * the state machine's order with each one's state, and the query the filters stand for.
 */

/**
 * The API's answers, typed by its contract (api/contract/responses.ts) for the type checker only:
 * the browser loads this file as it is. The page still reads them defensively.
 * @typedef {import('../../shared/types.js').Operation} Operation
 * @typedef {import('../../shared/types.js').StepRecord} StepRecord
 * @typedef {'running' | 'succeeded' | 'failed' | 'skipped' | 'not-reached'} StepState
 */

/**
 * One step as drawn.
 * @typedef {object} StepView
 * @property {string} name
 * @property {StepState} state
 * @property {string} label
 * @property {string | null} [startedAt]
 * @property {string | null} [endedAt]
 * @property {number | null} [durationMs]
 * @property {number} attempts
 * @property {Array<{ error: string, at?: string }>} retries
 * @property {string | null} [transport]
 * @property {string | null} [commandId]
 * @property {string | null} [sshHost]
 * @property {{ code: string, message: string } | null} [error]
 * @property {string[]} outputTail
 */

/** @typedef {'status' | 'workspaceId' | 'orgId' | 'plugin' | 'kind' | 'since'} FilterName */
/** @typedef {Partial<Record<FilterName, string>>} Filters */

/**
 * The Task states each kind runs, in order (infra/workflow.ts: ByKind, then the install or the
 * uninstall chain, then Restart and Record). Any Task's failure is caught into RecordFailure.
 * test/unit/api/ops-page-model.test.ts checks these against the synthesized state machine.
 */
export const WORKFLOW = Object.freeze({
  install: Object.freeze(['Stage', 'CheckAllowlist', 'Deliver', 'Restart', 'VerifyHealth', 'Record']),
  rollback: Object.freeze(['Stage', 'CheckAllowlist', 'Deliver', 'Restart', 'VerifyHealth', 'Record']),
  uninstall: Object.freeze(['Remove', 'Restart', 'VerifyHealth', 'Record']),
  plan: Object.freeze(['Stage', 'CheckAllowlist', 'Plan']),
  verify: Object.freeze(['Inventory']),
  repair: Object.freeze(['Inventory', 'Stage', 'Repair', 'Restart', 'VerifyHealth', 'Record']),
});
export const FAILURE_STEP = 'RecordFailure';

/** Every state a step can be drawn in, with the words shown next to its color. */
export const STATE_LABELS = Object.freeze({
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  skipped: 'skipped',
  'not-reached': 'not reached',
});

/** @type {Record<string, StepState | undefined>} */
const STEP_STATES = { RUNNING: 'running', SUCCEEDED: 'succeeded', FAILED: 'failed', SKIPPED: 'skipped' };

/** The filters the page offers, by query parameter (GET /operations). */
/** @type {readonly FilterName[]} */
export const FILTERS = Object.freeze(['status', 'workspaceId', 'orgId', 'plugin', 'kind', 'since']);

/**
 * One operation's steps as drawn: `main` in workflow order (steps the workflow does not list, if
 * the API reports any, after them), `failure` the RecordFailure branch. A step with no record is
 * "not reached". Where the API gives a failed step no error of its own, the operation's error is
 * shown on the step that failed last; a step still RUNNING in a finished operation is where the
 * workflow stopped. The failure branch counts as run once the operation is FAILED, since closing
 * it is what RecordFailure does (it records no step of its own).
 * @param {Operation} operation
 * @returns {{ main: StepView[], failure: StepView }}
 */
export function layoutSteps(operation) {
  /** @type {Map<string, StepRecord>} */
  const records = new Map();
  for (const step of Array.isArray(operation.steps) ? operation.steps : []) {
    if (step && typeof step.name === 'string') records.set(step.name, step);
  }
  const order = [...(WORKFLOW[operation.kind] ?? [])];
  for (const name of records.keys()) if (!order.includes(name) && name !== FAILURE_STEP) order.push(name);

  const finished = operation.status === 'SUCCEEDED' || operation.status === 'FAILED';
  const view = (/** @type {string} */ name) => stepView(name, records.get(name), finished);
  const main = order.map(view);
  const failure = view(FAILURE_STEP);
  // RecordFailure closes the operation without a step record of its own: a FAILED operation is its result.
  if (failure.state === 'not-reached' && operation.status === 'FAILED')
    Object.assign(failure, { state: 'succeeded', label: STATE_LABELS.succeeded, attempts: 1 });

  const opError = operation.status === 'FAILED' && operation.error ? operation.error : null;
  if (opError && !main.some((s) => s.error)) {
    const last = [...main].reverse().find((s) => s.state === 'failed');
    if (last) last.error = { code: opError.code, message: opError.message };
  }
  return { main, failure };
}

/**
 * @param {string} name
 * @param {StepRecord | undefined} record
 * @param {boolean} operationFinished
 * @returns {StepView}
 */
function stepView(name, record, operationFinished) {
  if (!record) return { name, state: 'not-reached', label: STATE_LABELS['not-reached'], attempts: 0, retries: [], outputTail: [] };
  let state = STEP_STATES[record.status] ?? 'running';
  // The workflow ended while this step was recorded as running: it stopped here.
  if (state === 'running' && operationFinished) state = 'failed';
  return {
    name,
    state,
    label: STATE_LABELS[state],
    startedAt: record.startedAt ?? null,
    endedAt: record.endedAt ?? null,
    durationMs: durationOf(record),
    attempts: Number.isInteger(record.attempts) && record.attempts > 0 ? record.attempts : 1,
    retries: Array.isArray(record.retries) ? record.retries.filter((r) => r && typeof r.error === 'string') : [],
    transport: typeof record.transport === 'string' ? record.transport : null,
    commandId: typeof record.commandId === 'string' ? record.commandId : null,
    sshHost: typeof record.sshHost === 'string' ? record.sshHost : null,
    error: record.error && typeof record.error.code === 'string' ? { code: record.error.code, message: String(record.error.message ?? '') } : null,
    outputTail: Array.isArray(record.outputTail) ? record.outputTail.map(String) : [],
  };
}

/** @param {StepRecord} record */
function durationOf(record) {
  if (typeof record.durationMs === 'number' && Number.isFinite(record.durationMs)) return record.durationMs;
  const start = Date.parse(record.startedAt);
  const end = Date.parse(record.endedAt ?? '');
  return Number.isFinite(start) && Number.isFinite(end) && end >= start ? end - start : null;
}

/**
 * `850 ms`, `12.3 s`, `4 min 05 s`; an em dash when unknown.
 * @param {unknown} ms
 */
export function formatDuration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.floor((ms % 60_000) / 1000);
  return `${minutes} min ${String(seconds).padStart(2, '0')} s`;
}

/**
 * The step that failed and its error code, for the operations table: `Deliver: workspace_unreachable`.
 * @param {Operation} operation
 */
export function failureSummary(operation) {
  if (operation.status !== 'FAILED') return '';
  const failed = layoutSteps(operation).main.find((s) => s.state === 'failed');
  const code = failed?.error?.code ?? operation.error?.code ?? '';
  return failed ? (code ? `${failed.name}: ${code}` : failed.name) : code;
}

/**
 * What a verify found or a repair changed (SPEC §12), in a few words for the operations table:
 * `drifted: 2 plugins, 1 debris` / `in sync`, `reinstalled 2` / `adopted 1` / `cleaned 3`; '' for
 * anything else.
 * @param {Operation} operation
 */
export function driftSummary(operation) {
  const repair = operation.repair;
  if (repair) {
    const changed = repair.mode === 'clean' ? repair.debris.length : repair.plugins.length;
    return `${repair.mode === 'clean' ? 'cleaned' : repair.mode === 'adopt' ? 'adopted' : 'reinstalled'} ${changed}`;
  }
  const verify = operation.kind === 'verify' ? operation.verify : undefined;
  if (!verify) return '';
  if (!verify.drift) return 'in sync';
  const plugins = verify.plugins.filter((p) => p.state !== 'ok').length;
  const parts = [plugins ? `${plugins} plugin${plugins === 1 ? '' : 's'}` : '', verify.debris.length ? `${verify.debris.length} debris` : ''];
  return `drifted: ${parts.filter(Boolean).join(', ')}`;
}

/**
 * `GET /operations` for these filter values: blanks dropped, `since` (a local date-time from the
 * form) as an ISO instant, the page `cursor` when not on the first page.
 * @param {Filters} filters
 * @param {{ limit?: number, cursor?: string | null }} [page]
 */
export function operationsPath(filters, { limit, cursor } = {}) {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const given = filters[name];
    const value = typeof given === 'string' ? given.trim() : '';
    if (!value) continue;
    params.set(name, name === 'since' ? sinceAsIso(value) : value);
  }
  if (limit) params.set('limit', String(limit));
  if (cursor) params.set('cursor', cursor);
  const query = params.toString();
  return query ? `/operations?${query}` : '/operations';
}

/**
 * A `datetime-local` value is the browser's local time; the API takes an instant. Anything else is passed on for the API to judge.
 * @param {string} value
 */
function sinceAsIso(value) {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) return value;
  const when = new Date(value);
  return Number.isNaN(when.getTime()) ? value : when.toISOString();
}

/**
 * Only an https link to the AWS console is followed; anything else is not a link.
 * @param {unknown} value
 * @returns {string | null}
 */
export function safeConsoleUrl(value) {
  if (typeof value !== 'string') return null;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && /(^|\.)console\.aws\.amazon\.com$|(^|\.)amazonaws-us-gov\.com$|(^|\.)amazonaws\.cn$/.test(url.hostname)
      ? url.href
      : null;
  } catch {
    return null;
  }
}

/**
 * How long to wait before the next refresh: every `base` ms, doubling per failure up to `max`, with jitter.
 * @param {number} failures
 * @param {{ base?: number, max?: number, random?: () => number }} [options]
 */
export function nextDelay(failures, { base = 2000, max = 30_000, random = Math.random } = {}) {
  if (failures <= 0) return base;
  const ceiling = Math.min(max, base * 2 ** failures);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
