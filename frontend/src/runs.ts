// The runs list: newest first, a page at a time, filtered by name and host; pick 2-5 runs to compare.
import { type Run, api } from "./api";
import { el, formatDuration, formatPercent, formatTime, recordingFor, runDuration } from "./format";
import { sparkline } from "./sparkline";

const PAGE_SIZE = 20;
const SPARK_POINTS = 40;
const MAX_COMPARED = 5;
// While the page lists a running run, it asks for the list again this long after each answer (one
// request at a time, never faster), so samples, duration and sparkline move on without a reload.
export const LIVE_POLL_MS = 3_000;

function query(): URLSearchParams {
  return new URLSearchParams(window.location.search);
}

function navigate(params: URLSearchParams): void {
  history.pushState(null, "", params.size ? `/?${params}` : "/");
  void load();
}

function row(run: Run, selected: Set<string>, onSelect: () => void): HTMLTableRowElement {
  const s = run.summary;
  const box = el("input", { type: "checkbox", "aria-label": `Select ${run.name} to compare` });
  box.checked = selected.has(run.id);
  box.addEventListener("change", () => {
    if (box.checked) selected.add(run.id);
    else selected.delete(run.id);
    onSelect();
  });
  const spark = el("td", { class: "spark" });
  const tr = el(
    "tr",
    { "data-run-id": run.id },
    el("td", {}, box),
    el("td", {}, el("a", { href: `/runs/${run.id}` }, run.name)),
    el("td", {}, run.hostname || "–"),
    el("td", {}, formatTime(run.started_at)),
    el(
      "td",
      { class: run.ended_at ? "" : "running" },
      run.ended_at ? runDuration(run.started_at, run.ended_at) : recordingFor(run.started_at, Date.now()),
    ),
    el("td", { class: "num" }, String(s?.sample_count ?? 0)),
    el("td", { class: "num" }, formatPercent(s?.avg_percent)),
    el("td", { class: "num" }, formatPercent(s?.max_percent)),
    el("td", { class: "num" }, `${formatDuration(s?.time_above_threshold_s ?? 0)} above ${formatPercent(run.threshold_percent)}`),
    spark,
  );
  api.series(run.id, SPARK_POINTS).then(
    (points) => spark.append(sparkline(points, run.threshold_percent)),
    () => spark.append("–"),
  );
  return tr;
}

const selected = new Set<string>();

function updateCompare(): void {
  const button = document.getElementById("compare") as HTMLButtonElement;
  button.disabled = selected.size < 2 || selected.size > MAX_COMPARED;
  const hint = document.getElementById("compare-hint") as HTMLElement;
  hint.textContent =
    selected.size > MAX_COMPARED
      ? `At most ${MAX_COMPARED} runs can be compared (${selected.size} selected).`
      : `Select 2 to ${MAX_COMPARED} runs to compare them (${selected.size} selected).`;
}

// Each load takes a number; only the newest one may draw. A slower answer to an older request (the
// unfiltered list asked on opening the page, then a filter submitted) must not replace a newer one.
let newestLoad = 0;
let pollTimer: number | undefined;

/** Another look in LIVE_POLL_MS when the page shows a running run; a newer load replaces a planned one. */
function pollWhileRunning(runs: Run[]): void {
  window.clearTimeout(pollTimer);
  if (runs.some((run) => run.ended_at === null)) pollTimer = window.setTimeout(() => void load(), LIVE_POLL_MS);
}

async function load(): Promise<void> {
  const thisLoad = ++newestLoad;
  const params = query();
  const offset = Math.max(0, Number(params.get("offset") ?? 0) || 0);
  const asked = new URLSearchParams({ summary: "true", limit: String(PAGE_SIZE), offset: String(offset) });
  for (const key of ["name", "host"]) {
    const value = params.get(key)?.trim();
    if (value) asked.set(key, value);
    (document.getElementById(`filter-${key}`) as HTMLInputElement).value = value ?? "";
  }
  const status = document.getElementById("runs-status") as HTMLElement;
  const body = document.querySelector("#runs tbody") as HTMLElement;
  try {
    const page = await api.runs(asked);
    if (thisLoad !== newestLoad) return; // superseded while it was on its way
    body.replaceChildren(...page.items.map((run) => row(run, selected, updateCompare)));
    pollWhileRunning(page.items);
    const last = offset + page.items.length;
    status.textContent = page.total === 0 ? "No runs yet." : `Runs ${offset + 1}–${last} of ${page.total}`;
    (document.getElementById("page-info") as HTMLElement).textContent = status.textContent;
    (document.getElementById("prev") as HTMLButtonElement).disabled = offset === 0;
    (document.getElementById("next") as HTMLButtonElement).disabled = last >= page.total;
  } catch (exc) {
    if (thisLoad !== newestLoad) return;
    status.textContent = `Could not load the runs: ${(exc as Error).message}`;
    pollTimer = window.setTimeout(() => void load(), LIVE_POLL_MS); // try again, at the same bounded pace
  }
}

function page(delta: number): void {
  const params = query();
  const offset = Math.max(0, (Number(params.get("offset") ?? 0) || 0) + delta * PAGE_SIZE);
  if (offset) params.set("offset", String(offset));
  else params.delete("offset");
  navigate(params);
}

export function showRuns(): void {
  const form = document.getElementById("filters") as HTMLFormElement;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (String(value).trim()) params.set(key, String(value).trim());
    navigate(params);
  });
  document.getElementById("prev")?.addEventListener("click", () => page(-1));
  document.getElementById("next")?.addEventListener("click", () => page(1));
  document.getElementById("compare")?.addEventListener("click", () => {
    const params = new URLSearchParams([...selected].map((id) => ["run", id]));
    window.location.assign(`/compare?${params}`);
  });
  window.addEventListener("popstate", () => void load());
  updateCompare();
  void load();
}
