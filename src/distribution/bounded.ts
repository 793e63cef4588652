/** Bounded-concurrency job runner shared by pull and push. */
/**
 * Run jobs with at most `limit` at once, in order. `onQueued(i)` is called for
 * each job that has to wait for a free slot (docker's "Waiting").
 */
export async function runBounded(jobs: (() => Promise<void>)[], limit: number, onQueued?: (i: number) => void): Promise<void> {
  let next = 0;
  let failed: unknown;
  let hasFailed = false;
  for (let i = limit; i < jobs.length; i++) onQueued?.(i);
  const worker = async () => {
    while (next < jobs.length && !hasFailed) {
      const job = jobs[next++]!;
      try {
        await job();
      } catch (err) {
        if (!hasFailed) {
          hasFailed = true;
          failed = err;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  if (hasFailed) throw failed;
}
