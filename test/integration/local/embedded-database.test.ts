import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { openDatabase, type LocalDatabase } from '../../../local/database.js';

/**
 * The embedded PostgreSQL (PGlite, one backend) as the local stack serves it: over TCP to many
 * connections at once, in a thread of its own. What a user of the stack would notice if it went
 * wrong: a query answered with another connection's rows, a transaction seeing (or rolling back)
 * someone else's statements, or every connection stuck behind one that went away.
 */
let database: LocalDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  database = await openDatabase({ thread: true });
  pool = new pg.Pool({ connectionString: database.url, max: 12 });
  await pool.query('CREATE TABLE IF NOT EXISTS wire_counter (id int PRIMARY KEY, n int NOT NULL)');
  await pool.query('INSERT INTO wire_counter VALUES (1, 0) ON CONFLICT DO NOTHING');
}, 180_000);
afterAll(async () => {
  await pool?.end();
  await database?.close();
});

describe('the embedded database over the wire', () => {
  it('answers each of many concurrent parameterized queries with its own rows', async () => {
    // Extended protocol (Parse/Bind/Execute/Sync) on 12 connections at once: interleaved batches
    // would bind one connection's values to another's statement.
    const results = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const text = i % 2 ? 'SELECT $1::int AS n, $2::text AS label' : "SELECT $1::int + 0 AS n, $2::text || '' AS label";
        const { rows } = await pool.query<{ n: number; label: string }>(text, [i, `q${i}`]);
        return rows;
      }),
    );
    for (const [i, rows] of results.entries()) expect(rows).toEqual([{ n: i, label: `q${i}` }]);
  }, 120_000);

  it('keeps concurrent transactions apart: every increment lands once, a rolled-back one not at all', async () => {
    const before = (await pool.query<{ n: number }>('SELECT n FROM wire_counter WHERE id = 1')).rows[0]!.n;
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const { rows } = await client.query<{ n: number }>('SELECT n FROM wire_counter WHERE id = $1', [1]);
          await client.query('UPDATE wire_counter SET n = $2 WHERE id = $1', [1, rows[0]!.n + 1]);
          await client.query(i % 10 === 0 ? 'ROLLBACK' : 'COMMIT');
        } finally {
          client.release();
        }
      }),
    );
    const after = (await pool.query<{ n: number }>('SELECT n FROM wire_counter WHERE id = 1')).rows[0]!.n;
    expect(after - before).toBe(36);
  }, 120_000);

  it('rolls back what a connection left open when it went away, and serves the others on', async () => {
    const before = (await pool.query<{ n: number }>('SELECT n FROM wire_counter WHERE id = 1')).rows[0]!.n;
    const leaving = new pg.Client({ connectionString: database.url });
    await leaving.connect();
    await leaving.query('BEGIN');
    await leaving.query('UPDATE wire_counter SET n = n + 1000 WHERE id = 1');
    // Others queue behind the open transaction; the client then vanishes without COMMIT.
    const waiting = pool.query<{ n: number }>('SELECT n FROM wire_counter WHERE id = $1', [1]);
    (leaving as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await leaving.end().catch(() => undefined);
    expect((await waiting).rows[0]!.n).toBe(before);
    expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  }, 120_000);
});
