import { createHash } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import type pg from 'pg';

/**
 * Named (server-side prepared) statements for the hot path. Kysely sends every query unnamed,
 * so Postgres parses and plans it again each time: 1-2 ms for the group-commit statement (a
 * dozen CTEs over a jsonb record set), more than executing it. A query whose text starts with
 * PREPARED goes out named after a hash of its text instead; pg prepares it once per connection
 * and Postgres reuses the plan (a generic one after five executions). Only statements marked
 * this way, whose shapes are few (a text per combination of CTEs, never per value), are named:
 * each name holds memory in every backend for the connection's life.
 */
const MARKER = '/* prepared */ ';

/** Put in front of a raw statement to have it prepared (see above). */
export function prepared<T>(statement: RawBuilder<T>): RawBuilder<T> {
  return sql<T>`${sql.raw(MARKER)}${statement}`;
}

type Query = (...args: unknown[]) => unknown;

/** Makes a pooled client send marked statements named. Call once per new client (pool 'connect'). */
export function namePreparedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as Query;
  const names = new Map<string, string>();
  (client as { query: Query }).query = (first: unknown, ...rest: unknown[]) => {
    if (typeof first !== 'string' || !first.startsWith(MARKER)) return query(first, ...rest);
    let name = names.get(first);
    if (!name) {
      name = `o_${createHash('sha1').update(first).digest('hex').slice(0, 20)}`;
      names.set(first, name);
    }
    const [values, callback] = rest;
    return callback === undefined ? query({ name, text: first, values }) : query({ name, text: first, values }, callback);
  };
}
