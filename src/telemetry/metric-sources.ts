/** Work waiting in the store, across all replicas (one query, read at scrape). */
export interface Backlog {
  /** Active instances per machine id; machines with none may be missing. */
  runningByMachine: { machine: string; count: number }[];
  /** Armed timers. */
  timersPending: number;
  /** Tool tasks no replica holds yet. */
  tasksPending: number;
  /** Tool tasks leased to a replica. */
  tasksRunning: number;
}

/** Database connection pool occupancy. */
export interface PoolUsage {
  total: number;
  idle: number;
  waiting: number;
}

/** A tool's live protection state (the shape of `ToolPolicyState`, declared here so telemetry does not import tools). */
export interface ToolState {
  tool: string;
  breaker: string;
  active: number;
}

/**
 * Where scrape-time gauges read from. The composition root fills these in once the parts exist;
 * a missing source leaves its gauge without a sample. None may throw except `backlog`, whose
 * failure is counted as a store error and keeps the previous values.
 */
export interface MetricSources {
  backlog?: () => Promise<Backlog>;
  pool?: () => PoolUsage | undefined;
  busUp?: () => boolean;
  tools?: () => readonly ToolState[];
}
