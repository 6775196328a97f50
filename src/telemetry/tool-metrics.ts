import type { Metrics, ToolCallOutcome } from './metrics.js';

/**
 * The tool policy events metrics need: the shape of `ToolPolicyEvent` (tools/policy), declared
 * here so telemetry does not import tools. Other event types are ignored.
 */
export type ToolMetricEvent =
  | { type: 'call'; tool: string; ok: boolean; errorKind?: string; seconds: number }
  | { type: 'retry'; tool: string }
  | { type: 'timeout'; tool: string }
  | { type: 'bulkhead_rejected'; tool: string }
  | { type: string; tool: string };

const NAMED_OUTCOMES: ReadonlySet<string> = new Set<ToolCallOutcome>(['timeout', 'circuit_open', 'bulkhead_full', 'cancelled']);

/** Records one policy event: calls by outcome and duration, retries, timeouts, bulkhead rejections. */
export function recordToolEvent(metrics: Metrics, event: ToolMetricEvent): void {
  const tool = { tool: event.tool };
  switch (event.type) {
    case 'call': {
      const call = event as Extract<ToolMetricEvent, { type: 'call' }>;
      metrics.toolCalls.inc({ tool: call.tool, outcome: toolCallOutcome(call.ok, call.errorKind) });
      metrics.toolCallDuration.observe(tool, call.seconds);
      return;
    }
    case 'retry':
      metrics.toolRetries.inc(tool);
      return;
    case 'timeout':
      metrics.toolTimeouts.inc(tool);
      return;
    case 'bulkhead_rejected':
      metrics.toolBulkheadRejections.inc(tool);
      return;
  }
}

/** ok, one of the policy's own failure kinds, or `error` for everything the tool itself failed with. */
export function toolCallOutcome(ok: boolean, errorKind: string | undefined): ToolCallOutcome {
  if (ok) return 'ok';
  return errorKind !== undefined && NAMED_OUTCOMES.has(errorKind) ? (errorKind as ToolCallOutcome) : 'error';
}
