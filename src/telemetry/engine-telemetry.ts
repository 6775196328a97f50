import type { EngineObserver, ObserverAttributes } from '../engine/ports/engine-observer.js';
import type { Metrics } from './metrics.js';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { inSpan, traceContext } from './tracing.js';

/**
 * The engine's observer: counts and times into `metrics` (labels: machine, source, tool and
 * outcome only) and runs engine spans with OpenTelemetry. A span's failure status is set for
 * rejections only; refusals the engine turns into results are not errors here.
 */
export function engineTelemetry(metrics: Metrics): EngineObserver {
  const timersFired = metrics.timersFired.series({});
  const timerLag = metrics.timerLag.series({});
  const conflicts = metrics.transitionConflicts.series({});
  return {
    transitionCommitted({ machine, source, seconds }) {
      metrics.transitions.inc({ machine, source });
      metrics.transitionDuration.observe({ source }, seconds);
    },
    workflowStarted({ machine }) {
      metrics.workflowsStarted.inc({ machine });
    },
    workflowFinished({ machine, outcome }) {
      metrics.workflowsFinished.inc({ machine, outcome });
    },
    timerFired({ lagSeconds }) {
      timersFired.inc();
      timerLag.observe(lagSeconds);
    },
    taskStarted({ tool, scheduleToStartSeconds }) {
      if (scheduleToStartSeconds !== undefined) metrics.taskScheduleToStart.observe({ tool }, scheduleToStartSeconds);
    },
    conflict() {
      conflicts.inc();
    },
    span<T>(name: string, attributes: ObserverAttributes, work: () => Promise<T>): Promise<T> {
      return inSpan(name, { attributes }, () => work());
    },
    untraced<T>(work: () => T): T {
      return traceContext.with(ROOT_CONTEXT, work);
    },
  };
}
