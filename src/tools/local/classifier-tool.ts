import type { ToolAdapter } from '../tool-registry.js';

export type Severity = 'sev1' | 'sev2' | 'sev3' | 'sev4';

const RULES: [RegExp, Severity, string][] = [
  [/\b(outage|down|data loss|breach|unavailable)\b/i, 'sev1', 'customer-facing outage or data at risk'],
  [/\b(error|errors|failing|failed|degraded|5\d\d)\b/i, 'sev2', 'errors or degraded service'],
  [/\b(slow|latency|timeout|timeouts)\b/i, 'sev3', 'slowness'],
];

/**
 * `llm.classify`, deterministic and local: a stand-in for a model that rates an incident by
 * keywords of its title and description. A severity given by the reporter wins.
 */
export const classifyTool: ToolAdapter<{ title: string; description?: string; reported?: Severity }, { severity: Severity; reason: string }> = async (input) => {
  if (input.reported) return { severity: input.reported, reason: 'severity set by the reporter' };
  const text = `${input.title ?? ''} ${input.description ?? ''}`;
  for (const [pattern, severity, reason] of RULES) if (pattern.test(text)) return { severity, reason };
  return { severity: 'sev4', reason: 'no impact keywords' };
};
