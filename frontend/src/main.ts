import "uplot/dist/uPlot.min.css";
import "./style.css";
import { api } from "./api";
import { showCompare } from "./compare";
import { showLogin } from "./login";
import { showRun } from "./run";
import { showRuns } from "./runs";

function wireLogout(): void {
  const button = document.getElementById("logout");
  button?.addEventListener("click", async () => {
    button.setAttribute("disabled", "");
    try {
      await api.logout();
    } finally {
      window.location.assign("/");
    }
  });
}

const pages: Record<string, () => void | Promise<void>> = {
  login: showLogin,
  runs: showRuns,
  run: showRun,
  compare: showCompare,
};

wireLogout();
void pages[document.body.dataset.page ?? ""]?.();
