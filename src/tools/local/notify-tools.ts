import type { EngineLogger } from '../../engine/engine-options.js';
import type { ToolAdapter } from '../tool-registry.js';

/**
 * `notify.page` and `notify.status`, local: they write the notification to the log with its
 * idempotency key (a real pager or chat adapter would send that key along so a re-run after a
 * crash does not page twice) and report it delivered.
 */
export function createNotifyTools(logger: EngineLogger): Record<string, ToolAdapter> {
  const page: ToolAdapter<{ service: string; title: string; level: string }, { delivered: true; target: string }> = async (input, { idempotencyKey }) => {
    const target = `oncall:${input.service}:${input.level}`;
    logger.info('page sent', { target, title: input.title, idempotencyKey });
    return { delivered: true, target };
  };
  const status: ToolAdapter<{ title: string; message: string }, { posted: true }> = async (input, { idempotencyKey }) => {
    logger.info('status update posted', { title: input.title, message: input.message, idempotencyKey });
    return { posted: true };
  };
  return { 'notify.page': page, 'notify.status': status };
}
