import os from 'node:os';
import pg from 'pg';
import { createClient } from 'redis';
import { probePlatform, type PlatformCost } from './platform-probe.js';

/** The machine a benchmark ran on; results mean little without it. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  /** Load average (1 min) when the run started: others' work on a shared machine shows here. */
  loadAverage: number;
  postgres?: { version: string; synchronousCommit: string; fsync: string; maxConnections: number };
  redis?: { version: string };
  store: 'postgres' | 'pglite';
  bus: 'redis' | 'memory';
  /** What a system call and a hop between two processes cost here (see platform-probe.ts). */
  platform: PlatformCost;
}

/** Describes this machine and the servers behind DATABASE_URL / REDIS_URL (a failing probe is reported as a version string). */
export async function describeMachine(databaseUrl: string | undefined, redisUrl: string | undefined): Promise<MachineInfo> {
  const info: MachineInfo = {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAverage: Math.round(os.loadavg()[0]! * 100) / 100,
    store: databaseUrl ? 'postgres' : 'pglite',
    bus: redisUrl ? 'redis' : 'memory',
    platform: await probePlatform(),
  };
  if (databaseUrl) info.postgres = await describePostgres(databaseUrl);
  if (redisUrl) info.redis = await describeRedis(redisUrl);
  return info;
}

async function describePostgres(url: string): Promise<NonNullable<MachineInfo['postgres']>> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const setting = async (name: string) => String((await client.query(`show ${name}`)).rows[0]?.[name]);
    return {
      version: await setting('server_version'),
      synchronousCommit: await setting('synchronous_commit'),
      fsync: await setting('fsync'),
      maxConnections: Number(await setting('max_connections')),
    };
  } catch (error) {
    return { version: `unreachable: ${(error as Error).message}`, synchronousCommit: '?', fsync: '?', maxConnections: 0 };
  } finally {
    await client.end().catch(() => {});
  }
}

async function describeRedis(url: string): Promise<NonNullable<MachineInfo['redis']>> {
  const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2_000 } });
  client.on('error', () => {});
  try {
    await client.connect();
    const server = await client.info('server');
    return { version: /redis_version:(\S+)/.exec(server)?.[1] ?? 'unknown' };
  } catch (error) {
    return { version: `unreachable: ${(error as Error).message}` };
  } finally {
    await client.close().catch(() => {});
  }
}
