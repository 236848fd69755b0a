import type { Db, Queryable } from './db.js';
import { query, transaction } from './db.js';
import { InvalidRequest, PluginNotAllowed } from '../shared/errors.js';
import { originOf, originOwnName, parseOriginPattern, type Origin } from '../plugins/origin.js';
import { messageQuote } from '../shared/message-quote.js';

export interface AllowlistEntry {
  plugin_name: string;
  /** Present when the entry is pinned: an origin (`github://acme/lint`) or an owner prefix (`github://acme/*`). */
  source?: string;
  enabled_by: string;
  enabled_at: string;
}

/** One entry of a new list: a bare name allows the plugin from anywhere. */
export type AllowlistInput = string | { name: string; source?: string | null | undefined };

export async function getAllowlist(db: Queryable, orgId: string): Promise<AllowlistEntry[]> {
  const rows = await query<{ plugin_name: string; source: string | null; enabled_by: string; enabled_at: Date }>(
    db,
    'SELECT plugin_name, source, enabled_by, enabled_at FROM org_plugin_allowlist WHERE org_id = $1 ORDER BY plugin_name',
    [orgId],
  );
  return rows.map(({ source, enabled_at, ...r }) => ({
    plugin_name: r.plugin_name,
    ...(source === null ? {} : { source }),
    enabled_by: r.enabled_by,
    enabled_at: enabled_at.toISOString(),
  }));
}

/** Names once each, pins normalized; one name with two different pins is a mistake in the request. */
function normalizeEntries(entries: readonly AllowlistInput[]): { names: string[]; sources: Array<string | null> } {
  const byName = new Map<string, string | null>();
  for (const entry of entries) {
    const { name, source } = typeof entry === 'string' ? { name: entry, source: null } : entry;
    const pin = source == null ? null : parseOriginPattern(source);
    if (byName.has(name) && byName.get(name) !== pin) {
      throw new InvalidRequest(`plugin ${messageQuote(name)} is listed more than once with different sources`);
    }
    byName.set(name, pin);
  }
  return { names: [...byName.keys()], sources: [...byName.values()] };
}

/**
 * Replaces the whole list in one transaction (serialized per org). Entries kept from the old list
 * keep their enabled_at; an entry whose pin changed counts as enabled anew, by `enabledBy`.
 * A pin that is not an origin or an owner prefix is `invalid_source`.
 */
export async function replaceAllowlist(db: Db, orgId: string, entries: readonly AllowlistInput[], enabledBy: string): Promise<AllowlistEntry[]> {
  const { names, sources } = normalizeEntries(entries);
  await transaction(db, async (client) => {
    await client.query('SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE', [orgId]);
    await client.query('DELETE FROM org_plugin_allowlist WHERE org_id = $1 AND NOT (plugin_name = ANY($2::text[]))', [orgId, names]);
    await client.query(
      `INSERT INTO org_plugin_allowlist (org_id, plugin_name, source, enabled_by)
       SELECT $1, e.name, e.source, $4 FROM unnest($2::text[], $3::text[]) AS e(name, source)
       ON CONFLICT (org_id, plugin_name) DO UPDATE SET source = EXCLUDED.source, enabled_by = EXCLUDED.enabled_by, enabled_at = now()
         WHERE org_plugin_allowlist.source IS DISTINCT FROM EXCLUDED.source`,
      [orgId, names, sources, enabledBy],
    );
  });
  return getAllowlist(db, orgId);
}

export type AllowlistVerdict =
  | { allowed: true }
  | { allowed: false; reason: 'not_listed' }
  | { allowed: false; reason: 'origin_not_pinned'; pin: string; origin: Origin | null };

interface ListMatch {
  /** whether the org has a (non-empty) allowlist */
  restricted: boolean;
  verdict: AllowlistVerdict;
}

async function matchAllowlist(db: Queryable, orgId: string, pluginName: string, origin: Origin | null): Promise<ListMatch> {
  const rows = await query<{ total: string; listed: boolean; pin: string | null; pin_matches: boolean | null }>(
    db,
    `SELECT count(*) AS total, coalesce(bool_or(plugin_name = $2), false) AS listed,
       max(source) FILTER (WHERE plugin_name = $2) AS pin,
       bool_or(origin_matches(source, $3::text)) FILTER (WHERE plugin_name = $2) AS pin_matches
     FROM org_plugin_allowlist WHERE org_id = $1`,
    [orgId, pluginName, origin],
  );
  const row = rows[0];
  if (!row || Number(row.total) === 0) return { restricted: false, verdict: { allowed: true } };
  if (!row.listed) return { restricted: true, verdict: { allowed: false, reason: 'not_listed' } };
  if (row.pin !== null && row.pin_matches !== true) {
    return { restricted: true, verdict: { allowed: false, reason: 'origin_not_pinned', pin: row.pin, origin } };
  }
  return { restricted: true, verdict: { allowed: true } };
}

/**
 * SPEC §4: an empty allowlist allows every plugin; otherwise the name must be listed and, when its
 * entry is pinned, the origin must match the pin. Without an origin a pinned entry never matches
 * (fail closed). `origin` may also be a whole source: it is reduced to its origin (`originOf`).
 */
export async function allowlistVerdict(db: Queryable, orgId: string, pluginName: string, origin?: string): Promise<AllowlistVerdict> {
  return (await matchAllowlist(db, orgId, pluginName, origin === undefined ? null : originOf(origin))).verdict;
}

export async function isPluginAllowed(db: Queryable, orgId: string, pluginName: string, origin?: string): Promise<boolean> {
  return (await allowlistVerdict(db, orgId, pluginName, origin)).allowed;
}

/**
 * Refuses a plugin the org's allowlist does not allow (push and pull alike), with the documented
 * message and why. Given its origin (or source) it also refuses, while the org has an allowlist, a
 * plugin whose name is not its origin's own name: a manifest cannot borrow a listed name.
 */
export async function requireAllowedPlugin(db: Queryable, orgId: string, pluginName: string, origin?: string): Promise<void> {
  const refuse = (why?: string) => new PluginNotAllowed(`plugin "${pluginName}" is not in the org allowlist${why ? `: ${why}` : ''}`);
  const normalized = origin === undefined ? null : originOf(origin);
  const { restricted, verdict } = await matchAllowlist(db, orgId, pluginName, normalized);
  if (!verdict.allowed) {
    if (verdict.reason === 'not_listed') throw refuse();
    throw refuse(`it is allowed only from ${verdict.pin}${verdict.origin ? `, not from ${verdict.origin}` : ''}`);
  }
  if (!restricted || normalized === null) return;
  const ownName = originOwnName(normalized);
  if (ownName !== pluginName) throw refuse(`its source ${normalized} is the plugin "${ownName}"`);
}
