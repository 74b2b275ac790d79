// The API, as the pages use it: same origin, the session cookie (HttpOnly: never read here), JSON bodies.
import type { components, paths } from "./api-schema.gen";

// The API's types are generated at build time from its OpenAPI document (frontend/build.py):
// nothing here restates a field, and a path the document lacks does not compile.
type Schemas = components["schemas"];
export type Summary = Schemas["RunSummary"];
export type Run = Schemas["RunListItem"]; // a run of a list; one run (RunDetail) always has its summary
export type RunPage = Schemas["RunPage"];
export type SeriesPoint = Schemas["SeriesPoint"];
export type RunEvent = Schemas["EventRead"];
type Path = keyof paths;

/** `path` of the API's document, with the run id in its place. */
export function at(path: Path, runId?: string): string {
  return runId === undefined ? path : path.replace("{run_id}", encodeURIComponent(runId));
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const init: RequestInit = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401 && path !== at("/api/auth/login")) {
    window.location.assign("/"); // the session ended: back to the login page
  }
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const error = (await response.json()) as { detail?: string };
      if (error.detail) detail = error.detail;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, detail);
  }
  return (response.status === 204 ? undefined : await response.json()) as T;
}

export const api = {
  login: (username: string, password: string) => request<unknown>("POST", at("/api/auth/login"), { username, password }),
  logout: () => request<void>("POST", at("/api/auth/logout")),
  runs: (params: URLSearchParams) => request<RunPage>("GET", `${at("/api/test-runs")}?${params}`),
  run: (id: string) => request<Schemas["RunDetail"]>("GET", at("/api/test-runs/{run_id}", id)),
  deleteRun: (id: string) => request<void>("DELETE", at("/api/test-runs/{run_id}", id)),
  events: async (id: string) =>
    (await request<Schemas["EventList"]>("GET", at("/api/test-runs/{run_id}/events", id))).items,
  series: async (id: string, points: number, range?: { from: Date; to: Date }) => {
    const params = new URLSearchParams({ points: String(points) });
    if (range) {
      params.set("from", range.from.toISOString());
      params.set("to", range.to.toISOString());
    }
    const path = at("/api/test-runs/{run_id}/cpu-usage/series", id);
    const page = await request<Schemas["Series"]>("GET", `${path}?${params}`);
    return page.items;
  },
};
