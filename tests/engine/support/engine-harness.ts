import { InMemoryEventBus } from '../../../src/bus/in-memory-event-bus.js';
import type { WorkflowEngineOptions } from '../../../src/engine/engine-options.js';
import type { WorkflowDefinition } from '../../../src/engine/machine-kit.js';
import type { ToolInvoker } from '../../../src/engine/ports/tool-invoker.js';
import { createWorkflowEngine } from '../../../src/engine/workflow-engine.js';
import type { WorkflowEngine } from '../../../src/engine/workflow-engine.js';
import { PostgresWorkflowStore } from '../../../src/store/postgres-workflow-store.js';
import type { PostgresWorkflowStoreOptions } from '../../../src/store/postgres-workflow-store.js';
import { silentLogger } from '../../../src/telemetry/logger.js';
import { openTestDatabase } from '../../helpers/test-database.js';
import type { TestDatabase } from '../../helpers/test-database.js';
import { ControlledTools } from './controlled-tools.js';
import { probe } from './probe-machine.js';

/** Fast polls so tests wait milliseconds for timers and orphaned tasks. */
export const FAST: WorkflowEngineOptions = { timerPollIntervalMs: 20, taskPollIntervalMs: 20, watchPollIntervalMs: 200 };

export interface Harness {
  db: TestDatabase;
  store: PostgresWorkflowStore;
  bus: InMemoryEventBus;
  tools: ControlledTools;
  engine: WorkflowEngine;
  /** Another engine on the same store and bus (a second replica); stopped by close(). */
  addEngine(options?: WorkflowEngineOptions, tools?: ToolInvoker): WorkflowEngine;
  close(): Promise<void>;
}

/**
 * An engine on a fresh test database (Postgres schema or PGlite) with the in-memory bus,
 * controlled tools and the probe machine (plus `machines`). Started unless `start: false`.
 */
export async function createHarness(
  opts: { machines?: WorkflowDefinition[]; tools?: ControlledTools; options?: WorkflowEngineOptions; start?: boolean; store?: PostgresWorkflowStoreOptions } = {},
): Promise<Harness> {
  const db = await openTestDatabase();
  const store = new PostgresWorkflowStore(db.db, opts.store);
  const bus = new InMemoryEventBus();
  const tools = opts.tools ?? new ControlledTools(['test.job']);
  const machines = [probe, ...(opts.machines ?? [])];
  const engines: WorkflowEngine[] = [];
  const addEngine = (options: WorkflowEngineOptions = opts.options ?? FAST, engineTools: ToolInvoker = tools) => {
    const engine = createWorkflowEngine({ store, bus, machines, tools: engineTools, logger: silentLogger, options: { ...FAST, ...options } });
    engines.push(engine);
    return engine;
  };
  const engine = addEngine();
  if (opts.start ?? true) await engine.start();
  return {
    db,
    store,
    bus,
    tools,
    engine,
    addEngine,
    async close() {
      for (const e of engines) await e.stop();
      await bus.close();
      await db.close();
    },
  };
}
