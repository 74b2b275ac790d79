// The API's "time above threshold" rule (tests/contract/threshold_cases.json holds the cases every
// implementation passes: the SQL, the agent and this one).

/**
 * The seconds a sample at `t` adds after one at `previous` (epoch seconds, null: none before it):
 * a sample strictly above the threshold stands for the time since the one before; the first adds nothing.
 */
export function secondsAbove(previous: number | null, t: number, cpu: number, threshold: number): number {
  return previous !== null && cpu > threshold ? Math.max(0, t - previous) : 0;
}

/** The seconds above `threshold` of samples [t, cpu] in time order. */
export function timeAbove(points: [number, number][], threshold: number): number {
  let total = 0;
  let previous: number | null = null;
  for (const [t, cpu] of points) {
    total += secondsAbove(previous, t, cpu, threshold);
    previous = t;
  }
  return total;
}
