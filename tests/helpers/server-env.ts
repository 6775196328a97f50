import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Store settings for a server started as a child process: a fresh Postgres
 * schema (dropped by `cleanup`) when DATABASE_URL is set, an in-memory PGlite
 * otherwise. REDIS_URL passes through from the environment.
 */
export async function serverStoreEnv(): Promise<{ env: Record<string, string>; cleanup: () => Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (!url) return { env: { DATA_DIR: ':memory:' }, cleanup: async () => {} };
  const schema = `t_${randomBytes(6).toString('hex')}`;
  return {
    env: { DATABASE_URL: url, DATABASE_SCHEMA: schema },
    cleanup: async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
