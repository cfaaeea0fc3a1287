// The statistics page: pick a period, read the suppressed counts from /api/v1/statistics,
// and link the CSV, JSON and printable report for the same period.
(function () {
  "use strict";

  var P = window.Porchlight;
  var byId = P.byId;
  var HIDDEN = "<10";
  var TITLES = {
    by_channel: "By channel", by_language: "By language", by_outcome: "By outcome",
    by_hour: "By hour they began", by_status: "By status", by_category: "By kind"
  };

  function shown(value) { return value === null ? HIDDEN : String(value); }

  function label(key) { return key.replace(/_/g, " "); }

  function table(title, cells) {
    var wrapper = P.element("table", "breakdown");
    wrapper.appendChild(P.element("caption", null, title));
    var body = P.element("tbody");
    Object.keys(cells).forEach(function (key) {
      var row = P.element("tr");
      var head = P.element("th", null, label(key));
      head.scope = "row";
      row.appendChild(head);
      row.appendChild(P.element("td", null, shown(cells[key])));
      body.appendChild(row);
    });
    wrapper.appendChild(body);
    return wrapper;
  }

  function section(title, data, facts) {
    var part = P.element("section", "figures");
    part.appendChild(P.element("h2", null, title + ": " + shown(data.total)));
    if (facts.length) {
      var list = P.element("ul");
      facts.forEach(function (fact) { list.appendChild(P.element("li", null, fact)); });
      part.appendChild(list);
    }
    Object.keys(data).forEach(function (key) {
      if (key.indexOf("by_") === 0) part.appendChild(table(TITLES[key] || label(key), data[key]));
    });
    return part;
  }

  function orNot(value, suffix) { return value === null ? "not shown (too few)" : value + suffix; }

  function render(data) {
    var figures = byId("figures");
    figures.textContent = "";
    figures.appendChild(section("Conversations", data.conversations, []));
    var h = data.handoffs;
    figures.appendChild(section("Queued for an advocate", h, [
      "Asked to talk to someone: " + shown(h.requested),
      "Answered by the after-hours message (nobody free, or nobody in time): "
        + orNot(h.after_hours_share, "%"),
      "Minutes until an advocate answered: median " + orNot(h.minutes_to_claim.median, "")
        + ", 9 in 10 within " + orNot(h.minutes_to_claim.p90, "")
    ]));
    byId("in-progress").hidden = data.period.complete;
    figures.appendChild(section("Anonymous reports", data.reports, []));
  }

  function load(event) {
    if (event) event.preventDefault();
    var query = "?from=" + encodeURIComponent(byId("from").value)
      + "&to=" + encodeURIComponent(byId("to").value);
    byId("download-csv").href = "/api/v1/statistics.csv" + query;
    byId("download-json").href = "/api/v1/statistics" + query;
    byId("printable").href = "/dashboard/admin/statistics/report" + query;
    P.api("GET", "/statistics" + query).then(function (result) {
      P.show(byId("period-error"), result.ok ? "" : P.errorText(result));
      if (result.ok) render(result.data);
    });
  }

  // This month (in the browser's time; the server checks against TIMEZONE).
  var today = new Date();
  var month = today.getFullYear() + "-" + String(today.getMonth() + 1).padStart(2, "0");
  byId("to").value = month;
  byId("from").value = month;
  byId("period").addEventListener("submit", load);
  load();
})();
