// A run's CPU breakdown as `cpumon show` gives it: the averages of user, system, iowait and steal,
// stacked in one bar (SVG built with DOM calls: the CSP allows no inline styles), and the hottest core.
import type { Summary } from "./api";
import { el, formatPercent } from "./format";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 400;
const HEIGHT = 22;

/** The parts in the order they stack, with the summary field that carries each. */
export const PARTS = [
  ["user", "avg_user_percent"],
  ["system", "avg_system_percent"],
  ["iowait", "avg_iowait_percent"],
  ["steal", "avg_steal_percent"],
] as const;

export type Part = { name: string; percent: number };

/** The parts this platform measured (a part the samples never carried is left out). */
export function measuredParts(s: Summary): Part[] {
  return PARTS.flatMap(([name, field]) => {
    const value = s[field];
    return value === null || value === undefined ? [] : [{ name, percent: value }];
  });
}

function stackedBar(parts: Part[]): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute("class", "breakdown-bar");
  svg.setAttribute("preserveAspectRatio", "none"); // the bar fills its box from the left edge
  svg.setAttribute("aria-hidden", "true");
  const track = document.createElementNS(SVG, "rect");
  track.setAttribute("width", String(WIDTH));
  track.setAttribute("height", String(HEIGHT));
  track.setAttribute("class", "breakdown-idle");
  svg.append(track);
  let x = 0;
  for (const part of parts) {
    const width = (Math.max(0, Math.min(100, part.percent)) / 100) * WIDTH;
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("x", x.toFixed(2));
    rect.setAttribute("width", Math.min(width, WIDTH - x).toFixed(2));
    rect.setAttribute("height", String(HEIGHT));
    rect.setAttribute("class", `breakdown-${part.name}`);
    rect.dataset.part = part.name;
    svg.append(rect);
    x = Math.min(WIDTH, x + width);
  }
  return svg;
}

export function renderBreakdown(container: HTMLElement, s: Summary): void {
  const parts = measuredParts(s);
  container.hidden = parts.length === 0 && (s.max_core_percent ?? null) === null;
  const legend = el(
    "ul",
    { class: "breakdown-legend" },
    ...parts.map((p) =>
      el("li", { "data-part": p.name }, el("span", { class: `swatch breakdown-${p.name}` }), `${p.name} ${formatPercent(p.percent)}`),
    ),
  );
  const core = el("p", { "data-field": "hottest-core" }, `Hottest core (max): ${formatPercent(s.max_core_percent)}`);
  container.replaceChildren(
    el("h2", {}, "CPU breakdown (average)"),
    ...(parts.length ? [stackedBar(parts), legend] : []),
    core,
  );
}
