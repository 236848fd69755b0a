import type { Queryable } from './db.js';
import { query } from './db.js';

/**
 * Slots of the per-endpoint tunnel cap (SPEC §5, EC2 Instance Connect Endpoint), shared by every
 * step in every Lambda container. Taking one is a single statement: a random slot number below the
 * cap that no live lease holds; two takers racing for the same number meet on the primary key, and
 * the loser simply gets nothing this time. A lease runs for as long as the tunnel may (the endpoint
 * closes it then), so a holder that died frees its slot when the lease ends.
 */
export async function takeTunnelSlot(db: Queryable, endpointId: string, holder: string, cap: number, ttlMs: number): Promise<number | undefined> {
  const rows = await query<{ slot: number }>(
    db,
    `INSERT INTO eic_tunnel_slots (endpoint_id, slot, holder, expires_at)
     SELECT $1, s, $2, now() + make_interval(secs => $4::double precision / 1000)
       FROM generate_series(0, $3::integer - 1) AS s
      WHERE NOT EXISTS (SELECT 1 FROM eic_tunnel_slots t WHERE t.endpoint_id = $1 AND t.slot = s AND t.expires_at > now())
      ORDER BY random()
      LIMIT 1
     ON CONFLICT (endpoint_id, slot) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
       WHERE eic_tunnel_slots.expires_at <= now()
     RETURNING slot`,
    [endpointId, holder, cap, ttlMs],
  );
  return rows[0]?.slot;
}

export async function releaseTunnelSlot(db: Queryable, endpointId: string, slot: number, holder: string): Promise<void> {
  await query(db, 'DELETE FROM eic_tunnel_slots WHERE endpoint_id = $1 AND slot = $2 AND holder = $3', [endpointId, slot, holder]);
}

/** The cap's slots in PostgreSQL, shaped as the delivery layer's `TunnelSlots` port. */
export function pgTunnelSlots(db: Queryable) {
  return {
    take: (endpointId: string, holder: string, cap: number, ttlMs: number) => takeTunnelSlot(db, endpointId, holder, cap, ttlMs),
    release: (endpointId: string, slot: number, holder: string) => releaseTunnelSlot(db, endpointId, slot, holder),
  };
}
