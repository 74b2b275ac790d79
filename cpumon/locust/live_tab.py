"""The live chart in Locust's "System under test" tab.

Locust's extended tabs show a table only, as text. The plugin adds this small script of its own (no
third-party code) to Locust's page: while the tab is open, it fetches ./cpumon/charts every
REFRESH_MS (the server renders the SVG, from the same pure functions as the report) and shows it
under the tab's table.
"""

from __future__ import annotations

REFRESH_MS = 2000
SCRIPT_TAG = '<script src="./cpumon/tab.js" defer></script>'
SCRIPT = (
    """// cpumon: the hosts' CPU beside the load, under the "System under test" table.
(function () {
  "use strict";
  var busy = false;
  function tabOpen() {
    var selected = document.querySelector('[role="tab"][aria-selected="true"]');
    return !!selected && selected.textContent.trim() === "System under test";
  }
  function place(box) {
    var table = document.querySelector('[role="tabpanel"] table, main table');
    var holder = table ? table.closest(".MuiTableContainer-root, .MuiPaper-root") || table : null;
    if (holder && holder.parentNode && box.previousSibling !== holder) {
      holder.parentNode.insertBefore(box, holder.nextSibling);
    }
  }
  function refresh() {
    var box = document.getElementById("cpumon-charts");
    if (!tabOpen()) {
      if (box) box.remove();
      return;
    }
    if (busy) return;
    busy = true;
    fetch("./cpumon/charts", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (markup) {
        if (!markup || !tabOpen()) return;
        box = document.getElementById("cpumon-charts");
        if (!box) {
          box = document.createElement("div");
          box.id = "cpumon-charts";
          box.style.cssText = "margin:16px 0;overflow-x:auto;background:#fff;padding:8px;border-radius:4px";
        }
        box.innerHTML = markup;
        place(box);
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  setInterval(refresh, """
    + str(REFRESH_MS)
    + """);
  document.addEventListener("click", function () { setTimeout(refresh, 100); });
  refresh();
})();
"""
)
