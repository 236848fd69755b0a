import type { Db, Queryable } from './db.js';
import { query, transaction } from './db.js';
import { InvalidRequest } from '../shared/errors.js';
import type { AllowlistMatch } from '../shared/types.js';
import { originOf, parseOriginPattern } from '../plugins/origin.js';
import { messageQuote } from '@molecule/plugins-sdk/contract/message-quote';

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

/**
 * What the org's allowlist says of `pluginName` from `origin` — facts, judged by
 * plugins/allowlist-policy.ts: whether the org has a list at all, whether the name is on it, and
 * its pin with whether the origin matches it (`origin_matches`, SQL beside the pins). `origin` may
 * also be a whole source: it is reduced to its origin. Without one, a pin never matches.
 */
export async function allowlistFacts(db: Queryable, orgId: string, pluginName: string, origin: string | null): Promise<AllowlistMatch> {
  const rows = await query<{ total: string; listed: boolean; pin: string | null; pin_matches: boolean | null }>(
    db,
    `SELECT count(*) AS total, coalesce(bool_or(plugin_name = $2), false) AS listed,
       max(source) FILTER (WHERE plugin_name = $2) AS pin,
       bool_or(origin_matches(source, $3::text)) FILTER (WHERE plugin_name = $2) AS pin_matches
     FROM org_plugin_allowlist WHERE org_id = $1`,
    [orgId, pluginName, origin === null ? null : originOf(origin)],
  );
  const row = rows[0];
  return {
    restricted: Number(row?.total ?? 0) > 0,
    listed: row?.listed ?? false,
    pin: row?.pin ?? null,
    pinMatches: row?.pin_matches === true,
  };
}
