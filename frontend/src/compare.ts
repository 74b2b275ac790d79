// 2-5 runs overlaid on one chart, aligned at their first samples, with their summaries in a table.
import { type Run, api } from "./api";
import { COLORS, compareChart, fitWidth } from "./chart";
import { el, formatDuration, formatPercent, formatTime, runDuration } from "./format";

const POINTS = 500;

function aligned(run: Run, points: { start: string; avg_percent: number }[]): [number[], number[]] {
  const origin = Date.parse(run.summary?.first_sample_at ?? run.started_at) / 1000;
  return [points.map((p) => Date.parse(p.start) / 1000 - origin), points.map((p) => p.avg_percent)];
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
    (document.querySelector("#compare-table tbody") as HTMLElement).replaceChildren(...runs.map(row));
    const container = document.getElementById("compare-chart") as HTMLElement;
    const chart = compareChart(
      container,
      runs.map((run) => run.name),
      runs.map((run, i) => aligned(run, series[i])),
    );
    fitWidth(chart, container);
    container.dataset.runs = String(runs.length);
    status.textContent = `${runs.length} runs; colours as in the table (${COLORS.length} at most).`;
  } catch (exc) {
    status.textContent = `Could not load the runs: ${(exc as Error).message}`;
  }
}
