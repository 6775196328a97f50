import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** Directories this process holds, so a second open in the same process is refused too. */
const held = new Set<string>();

interface Owner {
  pid: number;
  host: string;
}

/**
 * Takes an exclusive lock on a PGlite data directory. PGlite does not stop two instances (in one
 * process or in two) from opening the same directory, and two writers corrupt it. The lock is a
 * file in the directory holding the owner's pid and host name. A lock left by a process that is
 * gone (killed with -9, crashed) on this host is taken over; a live owner, or one on another host,
 * makes this throw an Error saying which file to remove if the owner really is gone.
 * Returns the release function (idempotent).
 */
export function lockDataDir(dir: string): () => void {
  const path = join(dir, 'orchestrator.lock');
  if (held.has(path)) throw new Error(`PGlite data dir ${dir} is already open in this process`);
  const me: Owner = { pid: process.pid, host: hostname() };
  try {
    writeFileSync(path, JSON.stringify(me), { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const owner = readOwner(path);
    if (owner && (owner.host !== me.host || (owner.pid !== me.pid && isAlive(owner.pid)))) {
      throw new Error(
        `PGlite data dir ${dir} is in use by pid ${owner.pid} on ${owner.host}; ` +
          `if that process is gone, remove ${path}`,
      );
    }
    // The owner is dead (or was an earlier process that had our pid, e.g. pid 1 in a restarted
    // container): take the lock over. `wx` again so two processes taking over cannot both win.
    unlinkSync(path);
    writeFileSync(path, JSON.stringify(me), { flag: 'wx' });
  }
  held.add(path);
  return () => {
    if (!held.delete(path)) return;
    try {
      unlinkSync(path);
    } catch {
      // Already gone: nothing to release.
    }
  };
}

function readOwner(path: string): Owner | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<Owner>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string') return { pid: parsed.pid, host: parsed.host };
  } catch {
    // Unreadable or half-written (a crash during the write): treat it as stale.
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
