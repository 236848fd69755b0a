import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDatabase, openDatabase } from '../../../local/database.js';

// The embedded PGlite has one backend for every connection of the local stack (API worker,
// steps, cleanup). Parameterized queries use the extended protocol (Parse, Bind, Execute, Sync):
// when two connections' messages interleave, one runs the other's statement or fails with
// `portal "" cannot be run` (electric-sql/pglite#1046), which surfaced as an install failing
// at CheckAllowlist.
describe('the embedded database shared by many connections', () => {
  let database: LocalDatabase;
  const clients: pg.Client[] = [];

  beforeAll(async () => {
    database = await openDatabase();
    for (let i = 0; i < 6; i++) {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      clients.push(client);
    }
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end()));
    await database.close();
  });

  it('answers each connection its own parameterized query when all of them are waiting at once', async () => {
    const [holder, ...others] = clients;
    for (let round = 0; round < 10; round++) {
      // A transaction on one connection holds the others' queries back, so they are all queued
      // when it ends and the database takes them in one go.
      await holder!.query('BEGIN');
      await holder!.query('SELECT $1::int', [round]);
      const answers = Promise.all(
        others.map((client, c) => client.query('SELECT $1::text AS mine, $2::int + 1 AS next', [`client-${c}`, round]).then((r) => r.rows[0])),
      );
      await holder!.query('COMMIT');
      expect(await answers).toEqual(others.map((_, c) => ({ mine: `client-${c}`, next: round + 1 })));
    }
  });

  it('keeps a failed statement to its own connection: the others go on, and it can query again', async () => {
    const [bad, ...good] = clients;
    const failing = bad!.query('SELECT $1::int AS n', ['not a number']).then(
      () => 'answered',
      (err: Error) => err.message,
    );
    const others = Promise.all(good.map((client, i) => client.query('SELECT $1::int AS n', [i]).then((r) => r.rows[0].n)));
    expect(await failing).toMatch(/invalid input syntax for type integer/);
    expect(await others).toEqual(good.map((_, i) => i));
    expect((await bad!.query('SELECT $1::int AS n', [7])).rows[0].n).toBe(7);
  });

  it('keeps a transaction to its connection while others query', async () => {
    const [owner, ...others] = clients;
    await owner!.query('CREATE TABLE IF NOT EXISTS turn_test (n int)');
    await owner!.query('BEGIN');
    await owner!.query('INSERT INTO turn_test VALUES ($1)', [1]);
    const reads = Promise.all(others.map((client) => client.query('SELECT count(*)::int AS n FROM turn_test WHERE n = $1', [1])));
    await owner!.query('ROLLBACK');
    // The others ran after the rollback: the row they would have seen inside it never existed.
    expect((await reads).map((r) => r.rows[0].n)).toEqual(others.map(() => 0));
  });
});
