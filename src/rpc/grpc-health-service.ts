import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from '@connectrpc/connect';
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as Status,
  type HealthCheckResponse,
} from '../../gen/grpc/health/v1/health_pb.js';
import { statusStream } from './status-stream.js';

/** A status in the standard grpc.health.v1 vocabulary. */
export type GrpcServingStatus = 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

/**
 * What the standard gRPC health service reports. The app adapts its own
 * health model to this (e.g. a degraded but working service is SERVING).
 *
 * Contract:
 * - `status('')` is the health of the whole server; other names are
 *   services or components. A name the source does not know is
 *   `SERVICE_UNKNOWN` (Check then fails with `not_found`, Watch reports it
 *   and keeps watching, as upstream gRPC does).
 * - `status` is called synchronously on every Check and after every change
 *   notification: it must be cheap and must not throw (a throw fails the
 *   call with `internal`).
 * - `onChange(listener)` calls `listener` (with no arguments) whenever any
 *   status may have changed; spurious calls are fine, the service only sends
 *   a Watch update when the status really differs. It returns the function
 *   that unsubscribes; Watch calls it when the client goes away.
 * - `services()` (optional) names the services that List reports besides
 *   the whole server `''`. Without it List reports `''` only.
 */
export interface HealthSource {
  status(service: string): GrpcServingStatus;
  onChange(listener: () => void): () => void;
  services?(): readonly string[];
}

/** Upstream's List limit: more services than this is RESOURCE_EXHAUSTED. */
const LIST_LIMIT = 100;

const toProto: Record<GrpcServingStatus, Status> = {
  SERVING: Status.SERVING,
  NOT_SERVING: Status.NOT_SERVING,
  SERVICE_UNKNOWN: Status.SERVICE_UNKNOWN,
};

const response = (status: GrpcServingStatus): HealthCheckResponse =>
  create(HealthCheckResponseSchema, { status: toProto[status] });

/**
 * grpc.health.v1.Health (Check, List, Watch) over a {@link HealthSource},
 * with upstream gRPC's semantics: Check on an unknown service fails with
 * `not_found`; Watch sends the current status at once, then each change
 * (never the same status twice in a row) until the client goes away, and
 * ends by throwing the abort reason, never as OK.
 */
export function grpcHealthService(health: HealthSource): ServiceImpl<typeof Health> {
  return {
    check(req) {
      const status = health.status(req.service);
      if (status === 'SERVICE_UNKNOWN') {
        throw new ConnectError(`unknown service ${JSON.stringify(req.service)}`, Code.NotFound);
      }
      return response(status);
    },
    list() {
      const names = new Set(['', ...(health.services?.() ?? [])]);
      if (names.size > LIST_LIMIT) {
        throw new ConnectError(`more than ${LIST_LIMIT} services`, Code.ResourceExhausted);
      }
      const statuses: Record<string, HealthCheckResponse> = {};
      for (const name of names) {
        const status = health.status(name);
        // A name that vanished between services() and status() is not listed.
        if (status !== 'SERVICE_UNKNOWN') statuses[name] = response(status);
      }
      return { statuses };
    },
    async *watch(req, ctx) {
      // statusStream throws the abort reason when the client goes away (a
      // stream that returned would end as OK) and unsubscribes on any exit.
      const statuses = statusStream(
        (listener) => health.onChange(listener),
        () => health.status(req.service),
        (a, b) => a === b,
        ctx.signal,
      );
      for await (const status of statuses) yield response(status);
    },
  };
}

/** Registers grpc.health.v1.Health: pass to connectNodeAdapter / createRouterTransport. */
export function grpcHealthRoutes(health: HealthSource): (router: ConnectRouter) => void {
  return (router) => {
    router.service(Health, grpcHealthService(health));
  };
}
