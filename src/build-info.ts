import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface BuildInfo {
  name: string;
  version: string;
  gitCommit: string;
  buildTime: Date | undefined;
  startTime: Date;
  instanceId: string;
}

/**
 * What this build is. Images set GIT_COMMIT and BUILD_TIME; a checkout asks git
 * once at start (the commit time stands in for the build time).
 */
export function readBuildInfo(env: Record<string, string | undefined> = process.env): BuildInfo {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
  const gitCommit = env.GIT_COMMIT || git(['rev-parse', 'HEAD']) || 'unknown';
  const time = env.BUILD_TIME || git(['show', '-s', '--format=%cI', 'HEAD']);
  const buildTime = time && !Number.isNaN(Date.parse(time)) ? new Date(time) : undefined;
  return { name: pkg.name, version: pkg.version, gitCommit, buildTime, startTime: new Date(), instanceId: `${os.hostname()}:${process.pid}` };
}

function git(args: string[]): string | undefined {
  try {
    const cwd = new URL('..', import.meta.url);
    return execFileSync('git', args, { cwd, encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}
