// How figures and times read on the pages. Times are the browser's local time, with their zone.

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  timeZoneName: "short",
});

export function formatTime(iso: string | null): string {
  return iso ? dateTime.format(new Date(iso)) : "–";
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
