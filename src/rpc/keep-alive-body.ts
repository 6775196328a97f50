import type { IncomingMessage } from 'node:http';
import type { HttpRequest } from './http-handler.js';

/**
 * connect-node reads a request body with `for await` and stops early when it refuses the body
 * (over readMaxBytes, say). Leaving the loop destroys a node:http request; Node then stops reading
 * that socket for good while the body's last bytes are still on the way, so the next request on the
 * keep-alive connection hangs until headersTimeout and ends in ECONNRESET. Over HTTP/1.1 this hands
 * connect an iterator that leaves the request alive and discards what is left of the body, as Node
 * does for a body nobody read (bounded, as any body, by the server's requestTimeout), so the
 * connection serves its next request. HTTP/2 requests are left as they are: destroying one resets
 * only its stream.
 */
export function discardBodyOnEarlyReturn(req: HttpRequest): void {
  if (!('stream' in req)) (req as IncomingMessage)[Symbol.asyncIterator] = iterateKeepingAlive;
}

function iterateKeepingAlive(this: IncomingMessage): AsyncIterableIterator<unknown> {
  const request = this;
  const chunks = request.iterator({ destroyOnReturn: false });
  return {
    next: () => chunks.next(),
    async return(value?: unknown) {
      const done = await chunks.return!(value);
      // Without a socket (already detached) there is nothing left to read for.
      if (!request.complete && request.socket) request.resume();
      return done;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
