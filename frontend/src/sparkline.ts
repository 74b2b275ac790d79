// A small SVG line of a run's average CPU: built with DOM calls (the CSP allows no inline styles).
import type { SeriesPoint } from "./api";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 120;
const HEIGHT = 28;

export function sparkline(points: SeriesPoint[], threshold: number): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute("width", String(WIDTH));
  svg.setAttribute("height", String(HEIGHT));
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("aria-hidden", "true");
  const y = (percent: number) => (HEIGHT - 1 - (percent / 100) * (HEIGHT - 2)).toFixed(1);
  const limit = document.createElementNS(SVG, "line");
  limit.setAttribute("x1", "0");
  limit.setAttribute("x2", String(WIDTH));
  limit.setAttribute("y1", y(threshold));
  limit.setAttribute("y2", y(threshold));
  limit.setAttribute("class", "sparkline-threshold");
  svg.append(limit);
  if (points.length > 0) {
    const step = points.length > 1 ? WIDTH / (points.length - 1) : 0;
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.map((p, i) => `${(i * step).toFixed(1)},${y(p.avg_percent)}`).join(" "));
    line.setAttribute("class", "sparkline-line");
    svg.append(line);
  }
  return svg;
}
