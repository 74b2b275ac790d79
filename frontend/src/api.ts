// The API, as the pages use it: same origin, the session cookie (HttpOnly: never read here), JSON bodies.

export interface Summary {
  sample_count: number;
  avg_percent: number | null;
  min_percent: number | null;
  max_percent: number | null;
  first_sample_at: string | null;
  last_sample_at: string | null;
  threshold_percent: number;
  time_above_threshold_s: number;
}

export interface Run {
  id: string;
  name: string;
  hostname: string;
  interval_s: number | null;
  threshold_percent: number;
  started_at: string;
  ended_at: string | null;
  summary: Summary | null;
}

export interface RunPage {
  items: Run[];
  total: number;
  limit: number;
  offset: number;
}

export interface SeriesPoint {
  start: string;
  count: number;
  min_percent: number;
  avg_percent: number;
  max_percent: number;
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
  if (response.status === 401 && path !== "/api/auth/login") {
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
  login: (username: string, password: string) => request<unknown>("POST", "/api/auth/login", { username, password }),
  logout: () => request<void>("POST", "/api/auth/logout"),
  runs: (params: URLSearchParams) => request<RunPage>("GET", `/api/test-runs?${params}`),
  run: (id: string) => request<Run>("GET", `/api/test-runs/${encodeURIComponent(id)}`),
  deleteRun: (id: string) => request<void>("DELETE", `/api/test-runs/${encodeURIComponent(id)}`),
  series: async (id: string, points: number, range?: { from: Date; to: Date }) => {
    const params = new URLSearchParams({ points: String(points) });
    if (range) {
      params.set("from", range.from.toISOString());
      params.set("to", range.to.toISOString());
    }
    const page = await request<{ items: SeriesPoint[] }>(
      "GET",
      `/api/test-runs/${encodeURIComponent(id)}/cpu-usage/series?${params}`,
    );
    return page.items;
  },
};
