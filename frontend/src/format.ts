// How figures and times read on the pages. Times are the browser's local time, with their zone: one
// format on every page (date, hh:mm:ss on a 24-hour clock, zone), written here once.

const clock: Intl.DateTimeFormatOptions = { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  ...clock,
  timeZoneName: "short",
});
const timeOfDay = new Intl.DateTimeFormat(undefined, clock);
const dayOnly = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

/** A time as every page shows it: "Nov 2, 2026, 09:00:05 UTC". */
export function formatTime(iso: string | null): string {
  return iso ? dateTime.format(new Date(iso)) : "–";
}

/** The same, from epoch seconds (the charts' x values). */
export function formatEpoch(seconds: number): string {
  return dateTime.format(new Date(seconds * 1000));
}

/** A time axis' tick labels: hh:mm:ss; the date too where the day changes (or on the first tick). */
export function axisTimes(ticks: number[]): string[] {
  return ticks.map((t, i) => {
    const at = new Date(t * 1000);
    const day = dayOnly.format(at);
    const newDay = i === 0 || day !== dayOnly.format(new Date(ticks[i - 1] * 1000));
    return newDay ? `${timeOfDay.format(at)}\n${day}` : timeOfDay.format(at);
  });
}

export function formatPercent(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : `${value.toFixed(1)} %`;
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  return h > 0 ? `${h} h ${String(m).padStart(2, "0")} min` : `${m} min ${String(s).padStart(2, "0")} s`;
}

export function runDuration(startedAt: string, endedAt: string | null): string {
  if (endedAt === null) return "running";
  return formatDuration((Date.parse(endedAt) - Date.parse(startedAt)) / 1000);
}

/** How long a live run has been recording, at `nowMs` (never negative: the agent's clock may be ahead). */
export function recordingFor(startedAt: string, nowMs: number): string {
  return `recording for ${formatDuration(Math.max(0, (nowMs - Date.parse(startedAt)) / 1000))}`;
}

export function zoneName(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** A DOM element with text and attributes, never HTML parsed from strings. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}
