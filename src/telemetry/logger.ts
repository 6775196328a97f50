/** Structured JSON logs, one object per line on stderr (stdout stays free for tools). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  /** Whether lines of this level are written: to skip building fields on hot paths. */
  enabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level: LogLevel;
  /** Where lines go; defaults to stderr. */
  write?: (line: string) => void;
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const base = options.base ?? {};
  const min = rank[options.level];
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (rank[level] < min) return;
    write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...serialise(fields) }));
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger({ ...options, write, base: { ...base, ...fields } }),
    enabled: (level) => rank[level] >= min,
  };
}

/** Errors do not survive JSON.stringify; keep their message and code. */
function serialise(fields?: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!fields) return fields;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = value instanceof Error ? { name: value.name, message: value.message, code: (value as { code?: unknown }).code } : value;
  }
  return out;
}

/** A logger that drops everything, for tests that do not read logs. */
export const silentLogger: Logger = createLogger({ level: 'error', write: () => {} });
