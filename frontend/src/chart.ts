// uPlot charts: a run's min/avg/max band with its threshold, and several runs overlaid.
import uPlot from "uplot";
import type { SeriesPoint } from "./api";
import { axisTimes, formatDuration, formatEpoch, zoneName } from "./format";

// time (epoch s), min, avg, max, the hottest core's max (null where the samples carry none)
export type Columns = [number[], number[], number[], number[], (number | null)[]];

/** An event drawn on the chart: a vertical line at its time, with its text. */
export type Marker = { t: number; text: string };

export const COLORS = ["#1f5fbf", "#b3261e", "#1b7f3b", "#8a4baf", "#9a6700"];
const HEIGHT = 320;

export function toColumns(points: SeriesPoint[]): Columns {
  const columns: Columns = [[], [], [], [], []];
  for (const p of points) {
    columns[4].push(p.max_core_percent ?? null);
    columns[0].push(Date.parse(p.start) / 1000);
    columns[1].push(p.min_percent);
    columns[2].push(p.avg_percent);
    columns[3].push(p.max_percent);
  }
  return columns;
}

function width(container: HTMLElement): number {
  return Math.max(280, container.clientWidth);
}

/** The threshold as a dashed line, and the buckets where some sample went above it shaded. */
function drawThreshold(threshold: number): (u: uPlot) => void {
  return (u) => {
    const { ctx, bbox } = u;
    const xs = u.data[0];
    const highs = u.data[3] as (number | null)[];
    ctx.save();
    ctx.beginPath();
    ctx.rect(bbox.left, bbox.top, bbox.width, bbox.height);
    ctx.clip(); // a bucket partly outside the view (zoomed, or the last one) is shaded only inside the plot
    ctx.fillStyle = "rgba(179, 38, 30, 0.14)";
    for (let i = 0; i < xs.length; i++) {
      if ((highs[i] ?? 0) <= threshold) continue;
      const left = u.valToPos(xs[i], "x", true);
      const next = i + 1 < xs.length ? xs[i + 1] : xs[i] + (i > 0 ? xs[i] - xs[i - 1] : 1);
      const right = u.valToPos(next, "x", true);
      ctx.fillRect(left, bbox.top, Math.max(1, right - left), bbox.height);
    }
    const y = Math.round(u.valToPos(threshold, "y", true)) + 0.5;
    ctx.strokeStyle = "#b3261e";
    ctx.lineWidth = 1.5 * devicePixelRatio;
    ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
    ctx.beginPath();
    ctx.moveTo(bbox.left, y);
    ctx.lineTo(bbox.left + bbox.width, y);
    ctx.stroke();
    ctx.restore();
  };
}

/** Each event as a dashed vertical line with its text at the top, inside the plot only. */
function drawMarkers(markers: () => Marker[]): (u: uPlot) => void {
  return (u) => {
    const { ctx, bbox } = u;
    const [min, max] = [u.scales.x.min ?? -Infinity, u.scales.x.max ?? Infinity];
    ctx.save();
    ctx.beginPath();
    ctx.rect(bbox.left, bbox.top, bbox.width, bbox.height);
    ctx.clip();
    ctx.strokeStyle = "#5b3e96";
    ctx.fillStyle = "#3d2a66";
    ctx.lineWidth = devicePixelRatio;
    ctx.setLineDash([3 * devicePixelRatio, 3 * devicePixelRatio]);
    ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`;
    ctx.textAlign = "left"; // uPlot's axes leave it set otherwise: the text starts at its line
    ctx.textBaseline = "alphabetic";
    const shown = markers().filter((m) => m.t >= min && m.t <= max);
    u.root.dataset.markers = JSON.stringify(shown.map((m) => m.text)); // what was drawn, for tests and tools
    shown.forEach((m, i) => {
        const x = Math.round(u.valToPos(m.t, "x", true)) + 0.5;
        ctx.beginPath();
        ctx.moveTo(x, bbox.top);
        ctx.lineTo(x, bbox.top + bbox.height);
        ctx.stroke();
        ctx.fillText(m.text, x + 3 * devicePixelRatio, bbox.top + (14 + (i % 3) * 14) * devicePixelRatio);
    });
    ctx.restore();
  };
}

/** Time ticks at least this far apart (CSS px), each hh:mm:ss, for a 20-second run as for a week. */
const TIME_TICK_SPACE = 90;

const timeAxis: uPlot.Axis = {
  label: `Time (${zoneName()})`,
  space: TIME_TICK_SPACE,
  size: 52,
  values: (u, ticks) => {
    const labels = axisTimes(ticks);
    u.root.dataset.xTicks = JSON.stringify(labels); // what the axis shows, for tests and tools
    return labels;
  },
};

const percentAxis: uPlot.Axis = { label: "CPU %", values: (_u, values) => values.map((v) => `${v} %`), size: 56 };

export function runChart(
  container: HTMLElement,
  data: Columns,
  threshold: number,
  onZoom: (min: number, max: number) => void,
  markers: () => Marker[] = () => [],
): uPlot {
  const options: uPlot.Options = {
    width: width(container),
    height: HEIGHT,
    scales: { x: { time: true }, y: { range: [0, 100] } },
    series: [
      { label: "time", value: (_u, v) => (v === null ? "–" : formatEpoch(v)) },
      { label: "min", stroke: "#7ea6e0", width: 1 },
      { label: "avg", stroke: "#1f5fbf", width: 2 },
      { label: "max", stroke: "#7ea6e0", width: 1 },
      { label: "hottest core", stroke: "#9a6700", width: 1.5, dash: [4, 3] },
    ],
    bands: [{ series: [3, 1], fill: "rgba(31, 95, 191, 0.15)" }],
    axes: [timeAxis, percentAxis],
    cursor: { drag: { x: true, y: false }, bind: { dblclick: () => null } },
    hooks: {
      draw: [drawThreshold(threshold), drawMarkers(markers)],
      setSelect: [
        (u) => {
          if (u.select.width < 2) return;
          const min = u.posToVal(u.select.left, "x");
          const max = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          onZoom(min, max);
        },
      ],
    },
  };
  options.cursor!.drag!.setScale = false; // the page fetches the finer series, then sets the range
  return new uPlot(options, data, container);
}

export function compareChart(
  container: HTMLElement,
  names: string[],
  tables: [number[], number[]][],
  origin = "start",
): uPlot {
  const data = uPlot.join(tables.map((t) => [t[0], t[1]] as uPlot.AlignedData));
  const options: uPlot.Options = {
    width: width(container),
    height: HEIGHT,
    scales: { x: { time: false }, y: { range: [0, 100] } },
    series: [
      { label: `since ${origin}`, value: (_u, v) => (v === null ? "–" : formatDuration(v)) },
      ...names.map((name, i) => ({ label: name, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true })),
    ],
    axes: [{ label: `time since ${origin}`, values: (_u, values) => values.map((v) => formatDuration(v)) }, percentAxis],
  };
  return new uPlot(options, data, container);
}

/** Keeps the chart the container's width; `chart` gives the one drawn now (a page may draw it anew). */
export function fitWidth(chart: () => uPlot | null, container: HTMLElement): void {
  window.addEventListener("resize", () => chart()?.setSize({ width: width(container), height: HEIGHT }));
}
