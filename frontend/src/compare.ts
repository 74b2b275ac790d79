// 2-5 runs overlaid on one chart, aligned at their first samples or at an event they all have (the
// first with the same text in each, e.g. "test start"), with their summaries in a table.
import type uPlot from "uplot";
import { type Run, type RunEvent, type SeriesPoint, api } from "./api";
import { COLORS, compareChart, fitWidth } from "./chart";
import { el, formatDuration, formatPercent, formatTime, runDuration } from "./format";

const POINTS = 500;

const AT_START = ""; // the alignment select's value for "each run's first sample"

function aligned(origin: number, points: SeriesPoint[]): [number[], number[]] {
  return [points.map((p) => Date.parse(p.start) / 1000 - origin), points.map((p) => p.avg_percent)];
}

/** Where a run's time 0 is: its first sample, or the first of its events with the text `at`. */
export function originOf(run: Run, events: RunEvent[], at: string): number {
  const event = at === AT_START ? undefined : events.find((e) => e.text === at);
  return Date.parse(event?.at ?? run.summary?.first_sample_at ?? run.started_at) / 1000;
}

/** The event texts every run has, in the first run's order. */
export function sharedTexts(events: RunEvent[][]): string[] {
  const [first = [], ...rest] = events;
  const texts = [...new Set(first.map((e) => e.text))];
  return texts.filter((text) => rest.every((list) => list.some((e) => e.text === text)));
}

function row(run: Run, index: number): HTMLTableRowElement {
  const s = run.summary;
  const swatch = el("span", { class: `swatch swatch-${index}`, "aria-hidden": "true" });
  return el(
    "tr",
    { "data-run-id": run.id },
    el("th", { scope: "row" }, swatch, el("a", { href: `/runs/${run.id}` }, run.name)),
    el("td", {}, run.hostname || "–"),
    el("td", {}, formatTime(run.started_at)),
    el("td", {}, runDuration(run.started_at, run.ended_at)),
    el("td", { class: "num" }, String(s?.sample_count ?? 0)),
    el("td", { class: "num" }, formatPercent(s?.avg_percent)),
    el("td", { class: "num" }, formatPercent(s?.max_percent)),
    el("td", { class: "num" }, formatPercent(run.threshold_percent)),
    el("td", { class: "num" }, formatDuration(s?.time_above_threshold_s ?? 0)),
  );
}

export async function showCompare(): Promise<void> {
  const ids = (document.body.dataset.runIds ?? "").split(" ").filter(Boolean);
  const status = document.getElementById("compare-status") as HTMLElement;
  if (ids.length < 2) {
    status.textContent = "Pick 2 to 5 runs on the runs list to compare them.";
    return;
  }
  try {
    const runs = await Promise.all(ids.map((id) => api.run(id)));
    const series = await Promise.all(ids.map((id) => api.series(id, POINTS)));
    const events = await Promise.all(ids.map((id) => api.events(id)));
    (document.querySelector("#compare-table tbody") as HTMLElement).replaceChildren(...runs.map(row));
    const container = document.getElementById("compare-chart") as HTMLElement;
    const select = document.getElementById("align") as HTMLSelectElement;
    select.replaceChildren(
      el("option", { value: AT_START }, "their first sample"),
      ...sharedTexts(events).map((text) => el("option", { value: text }, `the event “${text}”`)),
    );
    let chart: uPlot | null = null;
    const draw = (): void => {
      const origins = runs.map((run, i) => originOf(run, events[i], select.value));
      const tables = runs.map((_run, i) => aligned(origins[i], series[i]));
      chart?.destroy();
      const origin = select.value ? `“${select.value}”` : "start";
      chart = compareChart(container, runs.map((run) => run.name), tables, origin);
      container.dataset.alignedAt = select.value || "start";
      container.dataset.firstOffsets = JSON.stringify(tables.map((t) => t[0][0] ?? null)); // for tests and tools
    };
    draw();
    select.addEventListener("change", draw);
    fitWidth(() => chart, container);
    container.dataset.runs = String(runs.length);
    status.textContent = `${runs.length} runs; colours as in the table (${COLORS.length} at most).`;
  } catch (exc) {
    status.textContent = `Could not load the runs: ${(exc as Error).message}`;
  }
}
