// A run's page: its summary, a zoomable min/avg/max chart fed by the series endpoint, live updates
// pushed by the server while it records, CSV export and delete.
import type uPlot from "uplot";
import { type Run, type RunEvent, type Summary, api, at } from "./api";
import { renderBreakdown } from "./breakdown";
import { type Columns, type Marker, fitWidth, runChart, toColumns } from "./chart";
import { el, formatDuration, formatEpoch, formatPercent, formatTime, recordingFor, runDuration } from "./format";
import { secondsAbove } from "./threshold";

const POINTS = 500; // buckets per view: a long run is never read sample by sample
const MAX_LIVE_POINTS = 2_000; // past this many appended points, the whole view is fetched anew, coarser
const READY_WAIT_MS = 3_000;
const RESUBSCRIBE_MS = 2_000; // a refused stream is asked for again this often
const CLOCK_MS = 1_000; // a live run's "recording for" moves on this often

type Range = { from: number; to: number }; // epoch seconds

function summaryItems(run: Run, s: Summary): [string, string][] {
  return [
    ["Host", run.hostname || "–"],
    ["Started", formatTime(run.started_at)],
    ["Ended", run.ended_at ? formatTime(run.ended_at) : "running"],
    ["Duration", run.ended_at ? runDuration(run.started_at, run.ended_at) : recordingFor(run.started_at, Date.now())],
    ["Samples", String(s.sample_count)],
    ["Average", formatPercent(s.avg_percent)],
    ["Min", formatPercent(s.min_percent)],
    ["Max", formatPercent(s.max_percent)],
    ["Threshold", formatPercent(s.threshold_percent)],
    ["Time above threshold", formatDuration(s.time_above_threshold_s)],
    ["Last sample", formatTime(s.last_sample_at)],
  ];
}

function renderSummary(run: Run, s: Summary): void {
  renderBreakdown(document.getElementById("breakdown") as HTMLElement, s);
  const list = document.getElementById("summary") as HTMLElement;
  list.replaceChildren(
    ...summaryItems(run, s).map(([term, value]) =>
      el("div", { "data-field": term.toLowerCase().replaceAll(" ", "-") }, el("dt", {}, term), el("dd", {}, value)),
    ),
  );
}

/** The summary moved forward by pushed samples, by the API's rules (each sample stands for the time since the one before). */
export function advanceSummary(s: Summary, points: [number, number][]): Summary {
  const next = { ...s };
  let previous = s.last_sample_at ? Date.parse(s.last_sample_at) / 1000 : null;
  for (const [t, cpu] of points) {
    const total = (next.avg_percent ?? 0) * next.sample_count + cpu;
    next.sample_count += 1;
    next.avg_percent = total / next.sample_count;
    next.min_percent = Math.min(next.min_percent ?? cpu, cpu);
    next.max_percent = Math.max(next.max_percent ?? cpu, cpu);
    next.time_above_threshold_s += secondsAbove(previous, t, cpu, next.threshold_percent);
    previous = t;
    next.last_sample_at = new Date(t * 1000).toISOString();
  }
  return next;
}

class RunView {
  private chart: uPlot | null = null;
  private columns: Columns = [[], [], [], [], []];
  private markers: Marker[] = [];
  private readonly events = new Map<number, RunEvent>(); // by id: an event both loaded and pushed is shown once
  private view: Range | null = null; // null: the whole run
  private request = 0;
  private readonly container = document.getElementById("chart") as HTMLElement;
  private readonly status = document.getElementById("chart-status") as HTMLElement;

  constructor(
    private run: Run,
    private summary: Summary,
  ) {}

  whole(): Range | null {
    const s = this.summary;
    if (!s.first_sample_at || !s.last_sample_at) return null;
    return { from: Date.parse(s.first_sample_at) / 1000, to: Date.parse(s.last_sample_at) / 1000 };
  }

  async load(view: Range | null): Promise<void> {
    const asked = ++this.request;
    const range = view ? { from: new Date(view.from * 1000), to: new Date(view.to * 1000) } : undefined;
    const points = await api.series(this.run.id, POINTS, range);
    if (asked !== this.request) return; // a newer zoom or pan was asked meanwhile
    this.view = view;
    this.columns = toColumns(points);
    this.draw();
  }

  private draw(): void {
    if (this.chart === null) {
      this.chart = runChart(
        this.container,
        this.columns,
        this.run.threshold_percent,
        (min, max) => void this.load({ from: min, to: max }),
        () => this.markers,
      );
      fitWidth(() => this.chart, this.container);
    } else {
      this.chart.setData(this.columns, this.view === null);
    }
    if (this.view) this.chart.setScale("x", { min: this.view.from, max: this.view.to });
    this.describe();
  }

  private describe(): void {
    const xs = this.columns[0];
    const bucket = xs.length > 1 ? (xs[xs.length - 1] - xs[0]) / (xs.length - 1) : 0;
    this.container.dataset.points = String(xs.length);
    this.container.dataset.bucketSeconds = bucket.toFixed(3);
    this.container.dataset.zoomed = String(this.view !== null);
    const shown = this.view ?? (xs.length ? { from: xs[0], to: xs[xs.length - 1] } : null);
    this.status.textContent = shown
      ? `${xs.length} points${bucket ? `, about ${formatDuration(bucket)} each` : ""}, ` +
        `${formatEpoch(shown.from)} to ${formatEpoch(shown.to)}` +
        (this.view ? "" : ", whole run")
      : "No samples yet.";
  }

  zoom(factor: number): void {
    const whole = this.whole();
    if (!whole) return;
    const current = this.view ?? whole;
    const middle = (current.from + current.to) / 2;
    const half = ((current.to - current.from) * factor) / 2;
    if (factor > 1 && middle - half <= whole.from && middle + half >= whole.to) return void this.load(null);
    void this.load({ from: Math.max(whole.from, middle - half), to: Math.min(whole.to, middle + half) });
  }

  pan(direction: number): void {
    const whole = this.whole();
    if (!whole || !this.view) return;
    const span = this.view.to - this.view.from;
    const from = Math.min(Math.max(whole.from, this.view.from + (direction * span) / 4), whole.to - span);
    void this.load({ from, to: from + span });
  }

  /** Samples pushed by the server: the summary moves on, and the chart too when it shows the whole run. */
  push(points: [number, number][]): void {
    const last = this.summary.last_sample_at ? Date.parse(this.summary.last_sample_at) / 1000 : -Infinity;
    const fresh = points.filter(([t]) => t > last);
    if (fresh.length === 0) return;
    this.summary = advanceSummary(this.summary, fresh);
    renderSummary(this.run, this.summary);
    if (this.view !== null || this.chart === null) return;
    for (const [t, cpu] of fresh) {
      this.columns[0].push(t);
      this.columns[1].push(cpu);
      this.columns[2].push(cpu);
      this.columns[3].push(cpu);
      this.columns[4].push(null); // pushed samples carry the total only
    }
    if (this.columns[0].length > MAX_LIVE_POINTS) void this.load(null);
    else this.draw();
  }

  /**
   * Events loaded or pushed, added to those shown: markers on the chart and the list beside it, in
   * time order (then in the order they were added, as the API lists them). The stream pushes what
   * was added since it began, and the page loads the events after it began, so an event added in
   * between comes both ways: it is kept once, by its id.
   */
  addEvents(events: RunEvent[]): void {
    for (const e of events) this.events.set(e.id, e);
    const ordered = [...this.events.values()].sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.id - b.id);
    this.markers = ordered.map((e) => ({ t: Date.parse(e.at) / 1000, text: e.text }));
    renderEvents(ordered);
    this.chart?.redraw(false, false);
  }

  async loadEvents(): Promise<void> {
    this.addEvents(await api.events(this.run.id));
  }

  /** While the run records, its duration reads "recording for …" and moves on by itself. */
  tick(): void {
    if (!this.recording) return;
    const cell = document.querySelector('#summary [data-field="duration"] dd');
    if (cell) cell.textContent = recordingFor(this.run.started_at, Date.now());
  }

  get recording(): boolean {
    return this.run.ended_at === null;
  }

  async refresh(): Promise<void> {
    this.run = await api.run(this.run.id);
    this.summary = this.run.summary as Summary;
    renderSummary(this.run, this.summary);
  }
}

function renderEvents(events: RunEvent[]): void {
  const list = document.getElementById("events") as HTMLElement;
  const items = events.map((e) =>
    el("li", { "data-kind": e.kind }, el("time", { datetime: e.at }, formatTime(e.at)), el("span", {}, e.text)),
  );
  list.replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "No events.")]));
}

function setBadge(text: string, live: boolean): void {
  const badge = document.getElementById("live-badge") as HTMLElement;
  badge.textContent = text;
  badge.hidden = false;
  badge.classList.toggle("live", live);
  badge.dataset.live = String(live);
}


function setReconnecting(): void {
  setBadge("Reconnecting…", false);
  (document.getElementById("live-badge") as HTMLElement).dataset.live = "reconnecting";
}

/**
 * Subscribe before loading: what the load misses is pushed. Resolves once the server listens.
 * While the server cannot read its database it says `reconnecting` (then `resumed`); while the stream
 * itself is down the browser retries it, or, when it was refused (a 503 during an outage), this does,
 * after checking the run (a 401 there goes back to the login page). A stream back after a gap reloads
 * the view, so nothing pushed meanwhile is missed.
 */
function subscribe(id: string, view: RunView): Promise<void> {
  return new Promise((resolve) => {
    let gap = false;
    const timer = window.setTimeout(resolve, READY_WAIT_MS);
    const open = (): void => {
      const source = new EventSource(at("/api/test-runs/{run_id}/live", id));
      const live = (): void => {
        setBadge("● Recording, live", true);
        if (gap) {
          gap = false;
          void view.refresh();
          void view.load(null);
          void view.loadEvents();
        }
      };
      source.addEventListener("ready", () => {
        window.clearTimeout(timer);
        live();
        resolve();
      });
      source.addEventListener("reconnecting", () => {
        gap = true;
        setReconnecting();
      });
      source.addEventListener("resumed", live);
      source.addEventListener("samples", (event) => view.push(JSON.parse((event as MessageEvent<string>).data)));
      source.addEventListener("events", (event) => view.addEvents(JSON.parse((event as MessageEvent<string>).data)));
      source.addEventListener("ended", () => {
        source.close();
        setBadge("Finished", false);
        void view.refresh();
        void view.loadEvents(); // one added just after the end (a load tool's "test stop") is not pushed
      });
      source.addEventListener("gone", () => {
        source.close();
        window.location.assign("/");
      });
      source.addEventListener("error", () => {
        gap = true;
        setReconnecting();
        if (source.readyState === EventSource.CLOSED) window.setTimeout(() => void reopen(), RESUBSCRIBE_MS);
      });
    };
    const reopen = async (): Promise<void> => {
      try {
        await view.refresh(); // a 401 here goes to the login page; a finished run stays finished
      } catch {
        window.setTimeout(() => void reopen(), RESUBSCRIBE_MS);
        return;
      }
      if (view.recording) open();
      else setBadge("Finished", false);
    };
    open();
  });
}

/**
 * A finished run has no stream, yet events may still be added to it (`cpumon mark --run` from a
 * terminal): its page reads them again whenever it is shown again, e.g. on coming back to the tab.
 * No polling: a finished run seldom changes, and one request per return is bounded.
 */
function followFinishedEvents(view: RunView): void {
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !view.recording) void view.loadEvents();
  });
}

function wireControls(view: RunView): void {
  const on = (id: string, action: () => void) => document.getElementById(id)?.addEventListener("click", action);
  on("zoom-in", () => view.zoom(0.5));
  on("zoom-out", () => view.zoom(2));
  on("pan-left", () => view.pan(-1));
  on("pan-right", () => view.pan(1));
  on("zoom-reset", () => void view.load(null));
  const keys: Record<string, () => void> = {
    "+": () => view.zoom(0.5),
    "=": () => view.zoom(0.5),
    "-": () => view.zoom(2),
    ArrowLeft: () => view.pan(-1),
    ArrowRight: () => view.pan(1),
    Escape: () => void view.load(null),
    "0": () => void view.load(null),
  };
  document.getElementById("chart")?.addEventListener("keydown", (event) => {
    const action = keys[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
}

function wireDelete(id: string): void {
  const dialog = document.getElementById("delete-dialog") as HTMLDialogElement;
  const error = document.getElementById("delete-error") as HTMLElement;
  document.getElementById("delete")?.addEventListener("click", () => dialog.showModal());
  document.getElementById("delete-confirm")?.addEventListener("click", async () => {
    try {
      await api.deleteRun(id);
      window.location.assign("/");
    } catch (exc) {
      error.textContent = `Not deleted: ${(exc as Error).message}`;
      error.hidden = false;
    }
  });
}

export async function showRun(): Promise<void> {
  const id = document.body.dataset.runId as string;
  wireDelete(id);
  const run = await api.run(id);
  const view = new RunView(run, run.summary as Summary);
  renderSummary(run, run.summary as Summary);
  wireControls(view);
  if (run.ended_at === null) {
    await subscribe(id, view);
    await view.refresh(); // counts what was stored before the server started listening
  } else {
    setBadge("Finished", false);
  }
  await view.load(null);
  await view.loadEvents();
  followFinishedEvents(view);
  const clock = window.setInterval(() => (view.recording ? view.tick() : window.clearInterval(clock)), CLOCK_MS);
}
