import { fromJson, type JsonObject } from '@bufbuild/protobuf';
import { StructSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { EngineError, type EngineErrorCode } from '../engine/errors.js';

const codes: Record<EngineErrorCode, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  aborted: Code.Aborted,
  unavailable: Code.Unavailable,
  deadline_exceeded: Code.DeadlineExceeded,
  resource_exhausted: Code.ResourceExhausted,
  internal: Code.Internal,
};

/**
 * The one place where domain errors become Connect errors. Engine errors keep
 * their message and code, with their details as a google.protobuf.Struct error
 * detail; anything else passes through, and connect answers it with `internal`
 * (the logging interceptor records the cause).
 */
export function toConnectError(err: unknown): unknown {
  if (!(err instanceof EngineError)) return err;
  const details = err.details ? [{ desc: StructSchema, value: fromJson(StructSchema, toJson(err.details)) }] : [];
  return new ConnectError(err.message, codes[err.code], undefined, details, err);
}

/** Details are plain data; a JSON round trip drops undefined values and Dates become strings. */
function toJson(details: Record<string, unknown>): JsonObject {
  return JSON.parse(JSON.stringify(details)) as JsonObject;
}

/** Maps errors of unary calls and of server streams (thrown mid-stream). */
export function errorMappingInterceptor(): Interceptor {
  return (next) => async (req) => {
    try {
      const res = await next(req);
      if (!res.stream) return res;
      return { ...res, message: mapStream(res.message) };
    } catch (err) {
      throw toConnectError(err);
    }
  };
}

async function* mapStream<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    throw toConnectError(err);
  }
}
