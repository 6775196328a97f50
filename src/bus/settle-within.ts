export type Settlement = 'fulfilled' | 'rejected' | 'timeout';

/**
 * Waits for a promise, at most `ms`, and says how it ended. Never rejects: a
 * caller of the bus must not fail or hang because Redis did. The promise is
 * left to settle on its own (its rejection is handled here).
 */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<Settlement> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => 'fulfilled' as const,
        () => 'rejected' as const,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
