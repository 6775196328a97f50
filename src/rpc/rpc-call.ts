import { Code, ConnectError } from '@connectrpc/connect';
import { codeToHttpStatus, codeToString } from '@connectrpc/connect/protocol-connect';

/** The three wire protocols served on the port, as metric label values. */
export type RpcProtocol = 'grpc' | 'grpc_web' | 'connect';

/** What names a call in metrics and spans; never anything that identifies a request. */
export interface RpcCall {
  /** Fully qualified service name (`orchestrator.v1.OrchestratorService`). */
  service: string;
  method: string;
  protocol: RpcProtocol;
}

interface InterceptedRequest {
  service: { typeName: string };
  method: { name: string };
  header: Headers;
}

/** The call's service, method and protocol (told apart by content type, as connect-node does). */
export function rpcCall(req: InterceptedRequest): RpcCall {
  return { service: req.service.typeName, method: req.method.name, protocol: protocolOf(req.header.get('content-type')) };
}

/** The protocol a request's content type names. */
export function protocolOf(type: string | null | undefined): RpcProtocol {
  if (!type) return 'connect';
  return type.startsWith('application/grpc-web') ? 'grpc_web' : type.startsWith('application/grpc') ? 'grpc' : 'connect';
}

/** The code a client receives for a thrown value: connect answers anything but a ConnectError with `internal`. */
export function codeOf(error: unknown): Code {
  return error instanceof ConnectError ? error.code : Code.Internal;
}

/** `ok`, or the Connect code name (`invalid_argument`, `not_found`, ...). */
export function codeLabel(code: Code | undefined): string {
  return code === undefined ? 'ok' : codeToString(code);
}

/** The HTTP status the Connect protocol pairs with a code (ok 200, not_found 404, unavailable 503, ...). */
export function httpStatusLabel(code: Code | undefined): string {
  return String(code === undefined ? 200 : codeToHttpStatus(code));
}
