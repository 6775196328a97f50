/** What a running tool call gets besides its input. */
export interface ToolCallContext {
  /** Aborted when the task is cancelled (its state was left), its lease is lost, or the engine stops. */
  signal: AbortSignal;
  /**
   * `<workflowId>:<taskId>`: the same on every attempt of one task, on any replica. Adapters
   * pass it on (e.g. an `Idempotency-Key` header) so a re-run after a crash has no second effect.
   */
  idempotencyKey: string;
  /** 1 for the first claim of the task; higher after a crash or a lost lease. */
  attempt: number;
  /**
   * Told about each call of the adapter as it ends (retries included), for the call journal.
   * Optional; invokers without retries may call it once or never. Must not throw.
   */
  onAttempt?: (attempt: ToolAttempt) => void;
}

/** One call of a tool adapter within one claim of a task. */
export interface ToolAttempt {
  /** 1, 2, ... within this claim (retries of the invoker's policy). */
  attempt: number;
  startedAt: Date;
  endedAt: Date;
  ok: boolean;
  /**
   * The policy turned the call away before the adapter ran (`circuit_open`, `bulkhead_full`):
   * journaled as `refused`, `startedAt` = `endedAt`.
   */
  refused?: boolean;
  /** The failure's kind (`timeout`, `http`, `network`, ...) when not ok. */
  errorKind?: string;
  /** HTTP status of the failure, when there was one. */
  status?: number;
}

/**
 * Runs tools by `src` (`llm.chat`, `http.request`). The engine calls it after the task is
 * committed, at least once per task. A resolved value becomes `xstate.done.actor.<id>` with it
 * as `output` (it must be JSON); a rejection becomes `xstate.error.actor.<id>` with the error's
 * name, message and string `code`. Retries and timeouts are the implementation's business.
 */
export interface ToolInvoker {
  has(src: string): boolean;
  invoke(src: string, input: unknown, context: ToolCallContext): Promise<unknown>;
}
