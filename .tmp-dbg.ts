import { sql } from 'kysely';
import { silentLogger } from './src/telemetry/logger.js';
import { openDatabase } from './src/store/database.js';
const a = await openDatabase({ dataDir: ':memory:', poolSize: 1, logger: silentLogger });
const s = (a.db as any).selectFrom('pg_class').selectAll().stream();
try { await s.next(); } catch (e) { console.log('stream err', (e as Error).message); }
console.log('opening b');
const b = await openDatabase({ dataDir: ':memory:', poolSize: 1, logger: silentLogger, schema: 'tenant_a' });
console.log('b open');
console.log(await sql`select 1 as x`.execute(b.db));
await b.close();
await a.close();
console.log('closed');
