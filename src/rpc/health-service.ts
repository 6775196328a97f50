import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  ComponentHealthSchema,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as Status,
  type HealthCheckResponse,
  type HealthService,
} from '../../gen/health/v1/health_pb.js';
import type { HealthMonitor, ServingStatus } from '../health/health-monitor.js';
import { statusStream } from './status-stream.js';

const toProto: Record<ServingStatus, Status> = {
  SERVING: Status.SERVING,
  NOT_SERVING: Status.NOT_SERVING,
  DEGRADED: Status.DEGRADED,
  SERVICE_UNKNOWN: Status.SERVICE_UNKNOWN,
};

/** health.v1.HealthService: the seed's contract, with per-component detail. */
export function healthService(monitor: HealthMonitor): ServiceImpl<typeof HealthService> {
  const respond = (service: string): HealthCheckResponse => {
    const report = monitor.report();
    const whole = service === '' || service === 'orchestrator';
    return create(HealthCheckResponseSchema, {
      status: toProto[monitor.status(service)],
      components: whole
        ? report.components.map((c) => create(ComponentHealthSchema, { name: c.name, kind: c.kind, status: toProto[c.status], message: c.message }))
        : [],
    });
  };
  return {
    check: (req) => respond(req.service),
    watch: (req, ctx) =>
      statusStream(
        (listener) => monitor.onChange(listener),
        () => respond(req.service),
        (a, b) => a.status === b.status && JSON.stringify(a.components) === JSON.stringify(b.components),
        ctx.signal,
      ),
  };
}
