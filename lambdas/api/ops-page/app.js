// @ts-check
import { FILTERS, driftSummary, failureSummary, formatDuration, layoutSteps, nextDelay, operationsPath, safeConsoleUrl } from './model.js';

/**
 * The ops page: the admin token is asked for once and kept in this tab's sessionStorage (never in
 * the URL, never in localStorage); the operations list and the chosen operation are polled every
 * POLL_MS while the tab is visible, backing off on errors. Server data only ever reaches the page
 * as text (textContent, attributes), never as markup.
 */

const TOKEN_KEY = 'molecule-ops-token';
const POLL_MS = 2000;
const MAX_BACKOFF_MS = 30_000;
const REQUEST_TIMEOUT_MS = 10_000;
const PAGE_SIZE = 50;

/**
 * @typedef {import('./model.js').Operation} Operation
 * @typedef {import('./model.js').StepView} StepView
 * @typedef {import('./model.js').Filters} Filters
 * @typedef {{ id: string, workspaceId?: string | null }} Selection
 * @typedef {{ revision: number, status: string, version: string | null, sha256: string, files: unknown[], kept: boolean, installedAt: string, operationId: string }} Revision
 * @typedef {Node | string | number | null | undefined | false} Child
 */

/**
 * @type {{
 *   filters: Filters,
 *   cursor: string | null,
 *   nextCursor: string | null,
 *   selected: Selection | null,
 *   operations: Operation[],
 *   listKey: string,
 *   detailKey: string,
 *   failures: number,
 *   timer: ReturnType<typeof setTimeout> | undefined,
 *   generation: number,
 * }}
 */
const state = {
  filters: {},
  /** The current page's cursor (null: the newest operations) and the next page's, from X-Next-Cursor. */
  cursor: null,
  nextCursor: null,
  selected: null,
  operations: [],
  listKey: '',
  detailKey: '',
  failures: 0,
  timer: undefined,
  generation: 0,
};

class SessionEnded extends Error {}

/**
 * An element of index.html, which has every id this script asks for.
 * @param {string} id
 */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const tokenInput = () => /** @type {HTMLInputElement} */ (byId('token'));
const filtersForm = () => /** @type {HTMLFormElement} */ (byId('filters'));
/** @param {string} id */
const button = (id) => /** @type {HTMLButtonElement} */ (byId(id));
/**
 * The filter form's field of that name (a select or an input).
 * @param {string} name
 */
const filterField = (name) => /** @type {HTMLInputElement | HTMLSelectElement} */ (filtersForm().elements.namedItem(name));

/**
 * An element with attributes and children; strings become text nodes, so nothing is parsed as HTML.
 * @param {string} tag
 * @param {Record<string, unknown> | null} attrs
 * @param {...(Child | Child[])} children
 */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = String(value);
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/**
 * One API call with the session's token and a timeout; 401/403 end the session.
 * @param {string} path
 * @returns {Promise<{ body: unknown, headers: Headers }>} the JSON body, null if none
 */
async function api(path, bearer = token()) {
  const response = await fetch(path, {
    headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' },
    cache: 'no-store',
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  /** @type {{ error?: unknown, code?: unknown } | null} an error's body; any JSON on success */
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (response.status === 401) throw new SessionEnded('The token was not accepted (unknown, revoked or expired).');
  if (response.status === 403) throw new SessionEnded('This token is not an admin token.');
  if (!response.ok) {
    const detail = body && typeof body.error === 'string' ? `${body.error}${body.code ? ` (${body.code})` : ''}` : `HTTP ${response.status}`;
    throw Object.assign(new Error(detail), { status: response.status });
  }
  return { body, headers: response.headers };
}

// ---- session ----

function showLogin(message = '') {
  stopPolling();
  byId('app').hidden = true;
  byId('session').hidden = true;
  byId('login').hidden = false;
  byId('login-error').textContent = message;
  tokenInput().focus();
}

function showApp() {
  byId('login').hidden = true;
  byId('login-error').textContent = '';
  byId('app').hidden = false;
  byId('session').hidden = false;
  refreshNow();
}

/** @param {SubmitEvent} event */
async function signIn(event) {
  event.preventDefault();
  const input = tokenInput();
  const candidate = input.value.trim();
  if (!candidate) {
    byId('login-error').textContent = 'Enter the admin token.';
    return;
  }
  try {
    await api('/operations?limit=1', candidate);
  } catch (err) {
    byId('login-error').textContent = err instanceof SessionEnded ? err.message : `Could not reach the API: ${messageOf(err)}`;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, candidate);
  input.value = '';
  showApp();
}

/** @param {string} message */
function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.operations = [];
  state.listKey = '';
  state.detailKey = '';
  byId('operation-rows').replaceChildren();
  byId('detail-body').replaceChildren();
  byId('detail-empty').hidden = false;
  showLogin(message);
}

// ---- polling ----

function stopPolling() {
  clearTimeout(state.timer);
  state.timer = undefined;
  state.generation++;
}

/** @param {number} delay */
function schedule(delay) {
  clearTimeout(state.timer);
  const generation = state.generation;
  state.timer = setTimeout(() => {
    if (generation === state.generation) tick();
  }, delay);
}

function refreshNow() {
  stopPolling();
  tick();
}

async function tick() {
  if (!token()) return;
  if (document.hidden) {
    setBanner('info', 'Paused while this tab is hidden.');
    return;
  }
  const generation = state.generation;
  try {
    await refresh();
    if (generation !== state.generation) return;
    state.failures = 0;
    setBanner('info', `Last updated ${new Date().toLocaleTimeString()}`);
    schedule(POLL_MS);
  } catch (err) {
    if (generation !== state.generation) return;
    if (err instanceof SessionEnded) {
      signOut(`${err.message} Sign in again.`);
      return;
    }
    state.failures++;
    const delay = nextDelay(state.failures, { base: POLL_MS, max: MAX_BACKOFF_MS });
    setBanner('error', `Could not refresh: ${messageOf(err)}. Retrying in ${Math.ceil(delay / 1000)} s.`);
    schedule(delay);
  }
}

async function refresh() {
  const selected = state.selected;
  const [list, operation] = await Promise.all([
    api(operationsPath(state.filters, { limit: PAGE_SIZE, cursor: state.cursor })),
    selected ? fetchOperation(selected) : Promise.resolve(null),
  ]);
  const operations = Array.isArray(list.body) ? /** @type {Operation[]} */ (list.body) : [];
  state.operations = operations;
  state.nextCursor = list.headers.get('x-next-cursor');
  renderList(operations);
  if (selected && selected.id === state.selected?.id) renderDetail(operation);
  await refreshRollouts();
}

// ---- fleet rollouts ----

/**
 * @typedef {{ total: number, pending: number, running: number, succeeded: number, failed: number, unreachable: number, skipped: number }} RolloutCounts
 * @typedef {{ rolloutId: string, orgId: string, status: string, kind: string, plugin: string | null, source: string | null, counts: RolloutCounts, createdAt: string, maxConcurrency: number | string, maxErrors: number | string }} RolloutSummary
 * @typedef {{ workspaceId: string, status: string, operationId?: string, reason?: string, error?: { code: string, message: string } }} RolloutWorkspace
 */

/** @type {{ key: string, chosen: RolloutSummary | null }} */
const rollouts = { key: '', chosen: null };

/** The newest rollouts of every org, and the chosen one's workspaces; a failure here never hides the operations. */
async function refreshRollouts() {
  let list;
  try {
    list = /** @type {{ rollouts?: RolloutSummary[] } | null} */ ((await api('/rollouts?limit=10')).body);
  } catch (err) {
    if (err instanceof SessionEnded) throw err;
    return;
  }
  const items = Array.isArray(list?.rollouts) ? list.rollouts : [];
  const key = JSON.stringify(items);
  if (key !== rollouts.key) {
    rollouts.key = key;
    byId('rollouts-empty').hidden = items.length > 0;
    byId('rollout-rows').replaceChildren(
      ...items.map((r) =>
        h(
          'tr',
          { 'data-rollout': r.rolloutId, class: rollouts.chosen?.rolloutId === r.rolloutId ? 'selected' : null },
          h('td', null, h('button', { type: 'button', class: 'op-link', onclick: () => chooseRollout(r) }, h('code', null, r.rolloutId.slice(0, 8)))),
          h('td', null, r.orgId),
          h('td', { class: 'wrap' }, `${r.kind === 'rollback' ? 'rollback of ' : ''}${r.plugin ?? r.source ?? '—'}`),
          h('td', null, statusBadge(r.status)),
          h('td', null, rolloutProgress(r.counts)),
          h('td', null, formatTime(r.createdAt)),
        ),
      ),
    );
  }
  if (rollouts.chosen) await showRollout(rollouts.chosen);
}

/** `12/100 done: 10 succeeded, 2 failed (1 unreachable), 3 running, 85 pending` */
/** @param {RolloutCounts} c */
function rolloutProgress(c) {
  const done = c.succeeded + c.failed + c.skipped;
  const unreachable = c.unreachable ? ` (${c.unreachable} unreachable)` : '';
  return `${done}/${c.total} done: ${c.succeeded} succeeded, ${c.failed} failed${unreachable}, ${c.running} running, ${c.pending} pending`;
}

/** @param {RolloutSummary} r */
async function chooseRollout(r) {
  rollouts.chosen = r;
  rollouts.key = '';
  await showRollout(r);
}

/** One rollout's workspaces, each linked to its operation. @param {RolloutSummary} r */
async function showRollout(r) {
  let full;
  try {
    full = /** @type {(RolloutSummary & { workspaces: RolloutWorkspace[] }) | null} */ (
      (await api(`/orgs/${encodeURIComponent(r.orgId)}/rollouts/${encodeURIComponent(r.rolloutId)}`)).body
    );
  } catch (err) {
    if (err instanceof SessionEnded) throw err;
    return;
  }
  if (!full || rollouts.chosen?.rolloutId !== r.rolloutId) return;
  const rows = full.workspaces.map((w) =>
    h(
      'tr',
      { 'data-workspace': w.workspaceId, 'data-status': w.status },
      h('td', null, w.workspaceId),
      h('td', null, w.status.replace('_', ' ')),
      h('td', { class: 'wrap' }, w.reason ?? (w.error ? `${w.error.code}: ${w.error.message}` : '')),
      h(
        'td',
        null,
        w.operationId
          ? h(
              'button',
              { type: 'button', class: 'op-link', onclick: () => selectById(String(w.operationId), w.workspaceId) },
              h('code', null, w.operationId.slice(0, 8)),
            )
          : '—',
      ),
    ),
  );
  byId('rollout-detail').replaceChildren(
    h('h3', null, `Rollout ${full.rolloutId.slice(0, 8)}: ${full.status.toLowerCase()}`),
    h('p', null, `${rolloutProgress(full.counts)}; maxConcurrency ${full.maxConcurrency}, maxErrors ${full.maxErrors}`),
    h(
      'table',
      { class: 'rollout-workspaces' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Workspace', 'Status', 'Why', 'Operation'].map((name) => h('th', { scope: 'col' }, name)),
        ),
      ),
      h('tbody', null, rows),
    ),
  );
}

/**
 * Shows an operation known by its id (a rollout's workspace): as choosing it in the list does.
 * @param {string} id
 * @param {string} workspaceId
 */
function selectById(id, workspaceId) {
  state.selected = { id, workspaceId };
  writeLocation();
  state.detailKey = '';
  byId('detail').focus();
  refreshNow();
}

/**
 * One operation with its per-step explanation. Through its workspace when known (that route is in
 * every version of the API), else the admin route.
 * @param {Selection} selection
 * @returns {Promise<Operation | null>}
 */
async function fetchOperation({ id, workspaceId }) {
  const path = workspaceId
    ? `/workspaces/${encodeURIComponent(workspaceId)}/plugins/operations/${encodeURIComponent(id)}`
    : `/operations/${encodeURIComponent(id)}`;
  try {
    return /** @type {Operation | null} */ ((await api(path)).body);
  } catch (err) {
    if (/** @type {{ status?: number }} */ (err).status === 404) return null;
    throw err;
  }
}

/**
 * @param {'info' | 'error'} kind
 * @param {string} text
 */
function setBanner(kind, text) {
  const banner = byId('banner');
  banner.className = `banner banner-${kind}`;
  // Errors interrupt; the routine "last updated" does not.
  banner.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  banner.textContent = text;
}

// ---- the operations table ----

/** @param {unknown} status */
function statusBadge(status) {
  const text = typeof status === 'string' ? status.toLowerCase() : 'unknown';
  return h('span', { class: `badge state-${badgeState(status)}` }, text);
}

/** @param {unknown} status */
function badgeState(status) {
  /** @type {Record<string, string | undefined>} */
  const states = { RUNNING: 'running', SUCCEEDED: 'succeeded', FAILED: 'failed' };
  return states[String(status)] ?? 'not-reached';
}

/** @param {Operation[]} operations */
function renderList(operations) {
  const key = JSON.stringify([operations, state.selected?.id, state.cursor, state.nextCursor]);
  button('older').disabled = !state.nextCursor;
  button('newest').disabled = !state.cursor;
  if (key === state.listKey) return;
  state.listKey = key;
  const focused = document.activeElement;
  const focusedId = focused instanceof HTMLElement ? focused.dataset.operationId : undefined;
  const rows = operations.map((op) => {
    const selected = op.operationId === state.selected?.id;
    const link = h(
      'button',
      {
        type: 'button',
        class: 'op-link',
        'data-operation-id': op.operationId,
        'aria-pressed': selected ? 'true' : 'false',
        'aria-label': `Show operation ${op.operationId}: ${op.kind} ${op.plugin ?? op.source ?? ''} on ${op.workspaceId}, ${String(op.status).toLowerCase()}`,
        onclick: () => select(op),
      },
      String(op.operationId).slice(0, 8),
    );
    const drifted = op.kind === 'verify' && op.verify?.drift === true;
    return h(
      'tr',
      { class: selected ? 'selected' : undefined, 'data-drift': drifted ? 'true' : undefined },
      h('td', null, link),
      h('td', null, statusBadge(op.status)),
      h('td', null, op.kind),
      h('td', { class: 'wrap' }, op.plugin ?? op.source ?? (op.kind === 'verify' || op.kind === 'repair' ? 'whole workspace' : '—')),
      h('td', { class: 'wrap' }, op.workspaceId, op.orgId ? h('span', { class: 'muted' }, ` · ${op.orgId}`) : null),
      h('td', { class: 'wrap' }, failureSummary(op) || (drifted ? h('span', { class: 'badge drift' }, driftSummary(op)) : driftSummary(op))),
      h('td', null, h('time', { datetime: op.createdAt }, formatTime(op.createdAt))),
    );
  });
  byId('operation-rows').replaceChildren(...rows);
  byId('empty').hidden = operations.length > 0;
  if (focusedId) /** @type {HTMLButtonElement | null} */ (document.querySelector(`button[data-operation-id="${CSS.escape(focusedId)}"]`))?.focus();
}

/** @param {string | null | undefined} iso */
function formatTime(iso) {
  const when = new Date(iso ?? NaN);
  return Number.isNaN(when.getTime()) ? String(iso ?? '') : when.toLocaleString();
}

/** @param {Operation} op */
function select(op) {
  state.selected = { id: op.operationId, workspaceId: op.workspaceId };
  writeLocation();
  state.detailKey = '';
  renderDetail(op);
  byId('detail').focus();
  refreshNow();
}

// ---- one operation ----

/** @param {Operation | null} op */
function renderDetail(op) {
  const key = JSON.stringify(op);
  if (key === state.detailKey) return;
  state.detailKey = key;
  const body = byId('detail-body');
  byId('detail-empty').hidden = op !== null;
  if (!op) {
    byId('detail-title').textContent = 'Operation';
    body.replaceChildren(h('p', { class: 'empty' }, 'That operation was not found.'));
    return;
  }
  byId('detail-title').textContent = `${op.kind} ${op.plugin ?? op.source ?? ''} on ${op.workspaceId}`;
  const { main, failure } = layoutSteps(op);
  const consoleUrl = safeConsoleUrl(op.consoleUrl);
  const facts = h(
    'dl',
    { class: 'facts' },
    fact('Status', statusBadge(op.status)),
    fact('Operation id', h('code', null, op.operationId)),
    fact('Workspace', op.orgId ? `${op.workspaceId} (org ${op.orgId})` : op.workspaceId),
    fact('Source', op.source),
    op.sha256 ? fact('sha256', h('code', { class: 'wrap' }, op.sha256)) : null,
    fact('Started', formatTime(op.createdAt)),
    fact('Updated', formatTime(op.updatedAt)),
    op.executionName || op.executionArn
      ? fact(
          'Execution',
          consoleUrl
            ? h('a', { href: consoleUrl, target: '_blank', rel: 'noopener noreferrer' }, op.executionName ?? op.executionArn, ' (AWS console)')
            : h('code', { class: 'wrap' }, op.executionName ?? op.executionArn),
        )
      : null,
    op.error ? fact('Error', h('span', null, h('code', { class: 'error-code' }, op.error.code), ' ', op.error.message)) : null,
  );
  const warnings =
    Array.isArray(op.warnings) && op.warnings.length
      ? h(
          'div',
          { class: 'warnings' },
          h('h3', null, 'Warnings'),
          h(
            'ul',
            null,
            op.warnings.map((w) => h('li', null, String(w))),
          ),
        )
      : null;
  const graph = h(
    'div',
    { class: 'graph', role: 'group', 'aria-label': 'Workflow' },
    h(
      'ol',
      { class: 'graph-main', 'aria-label': `${op.kind} steps in order` },
      main.map((s) => h('li', null, stepBox(s))),
    ),
    h('div', { class: 'graph-failure' }, h('span', { class: 'branch-label' }, 'any step fails →'), stepBox(failure)),
  );
  const reached = [...main, failure].filter((s) => s.state !== 'not-reached');
  const details = h(
    'div',
    { class: 'step-details' },
    h('h3', null, 'Steps'),
    reached.length ? reached.map(stepDetail) : h('p', { class: 'empty' }, 'No step has run yet.'),
  );
  body.replaceChildren(facts, warnings ?? '', driftDetail(op) ?? '', h('h3', null, 'Workflow'), graph, details);
  showRevisions(op, key, body).catch(() => undefined);
}

/**
 * What a verify found (SPEC §12): each plugin that differs from the records, with its state, the
 * recorded and found hashes and the files that differ, then the debris; for a repair, what it
 * changed too. Nothing for any other operation.
 * @param {Operation} op
 */
function driftDetail(op) {
  const verify = op.verify;
  if (!verify) return null;
  const short = (/** @type {string | undefined} */ sha) => (sha ? h('code', { title: sha }, sha.slice(0, 12)) : '—');
  const differing = verify.plugins.filter((p) => p.state !== 'ok');
  const files = (/** @type {typeof differing[number]} */ p) =>
    p.files
      ? h(
          'ul',
          { class: 'file-changes' },
          p.files.added.map((path) => h('li', { 'data-change': 'added' }, `+ ${path}`)),
          p.files.removed.map((path) => h('li', { 'data-change': 'removed' }, `- ${path}`)),
          p.files.changed.map((path) => h('li', { 'data-change': 'changed' }, `~ ${path}`)),
        )
      : '';
  const header = h(
    'tr',
    null,
    ['Plugin', 'State', 'Recorded', 'Found', 'Files'].map((name) => h('th', { scope: 'col' }, name)),
  );
  const rows = differing.map((p) =>
    h(
      'tr',
      { 'data-plugin': p.name, 'data-state': p.state },
      h('td', null, p.name),
      h('td', null, h('span', { class: `badge drift-${p.state}` }, p.state)),
      h('td', null, p.recorded ? [p.recorded.version ?? '—', ' ', short(p.recorded.sha256)] : '—'),
      h('td', null, p.found ? [p.found.version ?? '—', ' ', short(p.found.sha256)] : '—'),
      h('td', null, files(p)),
    ),
  );
  const repair = op.repair;
  const repaired = repair
    ? h(
        'p',
        { class: 'repaired' },
        `${repair.mode}: `,
        [...repair.plugins.map((p) => `${p.action} ${p.name}`), ...repair.debris.map((path) => `removed plugins/${path}`)].join(', ') || 'nothing to mend',
        repair.restarted ? ' (restarted)' : '',
      )
    : null;
  return h(
    'div',
    { class: 'drift', 'data-drift': verify.drift ? 'true' : 'false' },
    h('h3', null, op.kind === 'repair' ? 'What the repair found and changed' : 'Drift'),
    h(
      'p',
      null,
      verify.drift
        ? `${differing.length} of ${verify.plugins.length} plugins differ from the records; ${verify.debris.length} debris.`
        : `In sync: ${verify.plugins.length} plugins as recorded, no debris.`,
    ),
    differing.length ? h('table', { class: 'drift-table' }, h('thead', null, header), h('tbody', null, rows)) : null,
    verify.debris.length
      ? h(
          'ul',
          { class: 'debris' },
          verify.debris.map((path) => h('li', null, `plugins/${path}`)),
        )
      : null,
    repaired,
  );
}

/**
 * The plugin's revisions on the workspace (SPEC §9), newest first, added under the operation when
 * they arrive; nothing for an operation that recorded none, or when another operation is shown by then.
 * @param {Operation} op
 * @param {string} key the detail it belongs to
 * @param {HTMLElement} body
 */
async function showRevisions(op, key, body) {
  // Only an operation that recorded a revision (or planned against one) asks: no 404 for a plugin never delivered.
  if (!op.plugin || (op.revision === undefined && !op.plan?.from?.revision)) return;
  const path = `/workspaces/${encodeURIComponent(op.workspaceId)}/plugins/${encodeURIComponent(op.plugin)}/revisions`;
  let list;
  try {
    list = /** @type {{ revisions?: Revision[] } | null} */ ((await api(path)).body);
  } catch (err) {
    if (err instanceof SessionEnded) throw err;
    return;
  }
  const revisions = Array.isArray(list?.revisions) ? list.revisions : [];
  if (state.detailKey !== key || revisions.length === 0) return;
  const header = h(
    'tr',
    null,
    ['Revision', 'Status', 'Version', 'sha256', 'Files', 'Tarball', 'Installed'].map((name) => h('th', { scope: 'col' }, name)),
  );
  const rows = revisions.map((r) =>
    h(
      'tr',
      { 'data-revision': String(r.revision), 'data-status': r.status, class: r.operationId === op.operationId ? 'this-operation' : null },
      h('td', null, String(r.revision)),
      h('td', null, r.status.replace('_', ' ')),
      h('td', null, r.version ?? '—'),
      h('td', null, h('code', { title: r.sha256 }, r.sha256.slice(0, 12))),
      h('td', null, String(r.files.length)),
      h('td', null, r.kept ? 'kept' : 'not kept'),
      h('td', null, formatTime(r.installedAt)),
    ),
  );
  body.append(
    h(
      'div',
      { class: 'revisions' },
      h('h3', null, `Revisions of ${op.plugin} on ${op.workspaceId}`),
      h('table', { class: 'revisions-table' }, h('thead', null, header), h('tbody', null, rows)),
    ),
  );
}

/**
 * @param {string} name
 * @param {Child} value
 */
function fact(name, value) {
  if (value === undefined || value === null || value === '') return null;
  return h('div', null, h('dt', null, name), h('dd', null, value));
}

/** @param {StepView} step */
function stepBox(step) {
  return h(
    'div',
    { class: `step state-${step.state}`, 'data-step': step.name, 'data-state': step.state },
    h('span', { class: 'step-name' }, step.name),
    h('span', { class: 'step-state' }, step.label),
    step.durationMs !== null && step.durationMs !== undefined ? h('span', { class: 'step-meta' }, formatDuration(step.durationMs)) : null,
    step.attempts > 1 ? h('span', { class: 'step-meta' }, `${step.attempts} attempts`) : null,
    step.error ? h('span', { class: 'step-error' }, step.error.code) : null,
  );
}

/** @param {StepView} step */
function stepDetail(step) {
  const retries = step.retries.map((r) => h('li', null, h('code', null, r.error), r.at ? ` at ${formatTime(r.at)}` : ''));
  return h(
    'section',
    { class: `step-detail state-${step.state}`, 'data-step': step.name, 'aria-label': `${step.name} step` },
    h('h4', null, step.name, ' ', h('span', { class: `badge state-${step.state}` }, step.label)),
    h(
      'dl',
      { class: 'facts' },
      fact('Started', step.startedAt ? formatTime(step.startedAt) : null),
      fact('Ended', step.endedAt ? formatTime(step.endedAt) : null),
      fact('Duration', step.durationMs === null || step.durationMs === undefined ? null : formatDuration(step.durationMs)),
      fact('Attempts', String(step.attempts)),
      retries.length ? fact('Retried after', h('ul', { class: 'retries' }, retries)) : null,
      fact('Transport', step.transport),
      fact('SSM command', step.commandId ? h('code', null, step.commandId) : null),
      fact('SSH host', step.sshHost ? h('code', null, step.sshHost) : null),
      step.error ? fact('Error code', h('code', { class: 'error-code' }, step.error.code)) : null,
      step.error ? fact('Error', step.error.message) : null,
    ),
    step.outputTail.length
      ? h(
          'div',
          { class: 'output' },
          h('h5', null, 'Host output (last lines)'),
          h('pre', { tabindex: '0', 'aria-label': `${step.name} host output` }, step.outputTail.join('\n')),
        )
      : null,
  );
}

// ---- filters and the address bar (filters and the chosen operation; never the token) ----

function readLocation() {
  const params = new URLSearchParams(location.search);
  state.filters = {};
  for (const name of FILTERS) {
    const value = params.get(name);
    if (value) state.filters[name] = value;
  }
  const op = params.get('op');
  state.selected = op ? { id: op, workspaceId: params.get('ws') } : null;
  for (const name of FILTERS) filterField(name).value = state.filters[name] ?? '';
}

function writeLocation() {
  const params = new URLSearchParams();
  for (const name of FILTERS) if (state.filters[name]) params.set(name, state.filters[name]);
  if (state.selected) {
    params.set('op', state.selected.id);
    if (state.selected.workspaceId) params.set('ws', state.selected.workspaceId);
  }
  const query = params.toString();
  history.replaceState(null, '', query ? `${location.pathname}?${query}` : location.pathname);
}

/** @param {SubmitEvent} event */
function applyFilters(event) {
  event.preventDefault();
  state.filters = {};
  for (const name of FILTERS) {
    const value = filterField(name).value.trim();
    if (value) state.filters[name] = value;
  }
  state.cursor = null;
  writeLocation();
  refreshNow();
}

function clearFilters() {
  filtersForm().reset();
  state.filters = {};
  state.cursor = null;
  writeLocation();
  refreshNow();
}

/** @param {unknown} err */
function messageOf(err) {
  return err instanceof Error ? err.message : String(err);
}

function start() {
  byId('login-form').addEventListener('submit', signIn);
  byId('sign-out').addEventListener('click', () => signOut('Signed out.'));
  byId('filters').addEventListener('submit', applyFilters);
  byId('clear-filters').addEventListener('click', clearFilters);
  byId('older').addEventListener('click', () => {
    state.cursor = state.nextCursor;
    refreshNow();
  });
  byId('newest').addEventListener('click', () => {
    state.cursor = null;
    refreshNow();
  });
  document.addEventListener('visibilitychange', () => {
    if (!token()) return;
    if (document.hidden) {
      stopPolling();
      setBanner('info', 'Paused while this tab is hidden.');
    } else refreshNow();
  });
  readLocation();
  if (token()) showApp();
  else showLogin();
}

start();
