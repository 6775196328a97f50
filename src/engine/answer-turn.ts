/**
 * When a committed transition's fan-out (watch messages, Redis PUBLISHes) runs: right after the
 * answers settled with it are written, so a caller does not wait for the fan-out of its own and
 * its batch-mates' transitions, and before the next requests are read, so a watcher does not wait
 * for them either.
 *
 * node:http writes an answer when it is settled, so the fan-out runs from `process.nextTick`,
 * after the promise jobs that write this turn's answers and before the event loop reads anything
 * else (Connect JSON at 8 in flight, ten interleaved pairs against the previous two immediates:
 * watch p50 lower in all ten by 0.4-3.1 ms, transitions/s higher in nine; bench/JOURNAL.md,
 * Session 19). node:http2 is different: it submits a gRPC answer's trailers from a JavaScript
 * immediate queued while it flushes the answer's data, and writes them a turn later. While a
 * gRPC answer written since the last turn's immediates waits for that, the fan-out waits two
 * immediates, so the trailers leave first (gRPC +13% at 1 in flight and +17% at 8 over one
 * immediate; Session 15).
 *
 * Every fan-out goes through one queue, run in order: one workflow's messages keep their order
 * whichever way each was scheduled. The state is the event loop's, shared by every engine and
 * server in the process.
 */
const queued: (() => void)[] = [];
let scheduled = false;
let trailersPending = false;
let notedAgain = false;

/** Runs `fn` once the answers settled with it are written (see above). `fn` must not throw. */
export function afterAnswers(fn: () => void): void {
  queued.push(fn);
  if (scheduled) return;
  scheduled = true;
  process.nextTick(runWhenAnswered);
}

/**
 * Called by an RPC layer when it has written an answer whose trailers node:http2 will submit
 * from a later immediate (a gRPC answer). Holds until a whole turn's immediates ran without one.
 */
export function noteAnswerTrailers(): void {
  if (trailersPending) {
    notedAgain = true;
    return;
  }
  trailersPending = true;
  clearAfterNextTurn();
}

function runWhenAnswered(): void {
  if (trailersPending) setImmediate(() => setImmediate(runQueued));
  else runQueued();
}

function runQueued(): void {
  scheduled = false;
  for (const fn of queued.splice(0)) fn();
}

/** One immediate chain per burst of gRPC answers, not a pair of immediates per answer. */
function clearAfterNextTurn(): void {
  setImmediate(() => {
    notedAgain = false;
    setImmediate(() => {
      if (notedAgain) clearAfterNextTurn();
      else trailersPending = false;
    });
  });
}
