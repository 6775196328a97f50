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
