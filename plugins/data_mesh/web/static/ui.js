// Data Products UI: live catalog filter, the product page's charts (Chart.js, vendored), the Query
// panel (the governed SQL port, with the page's session) and the copyable "Use this product" snippets.
(function () {
  "use strict";

  function filterCatalog() {
    var input = document.getElementById("search");
    if (!input) return;
    input.addEventListener("input", function () {
      var term = input.value.trim().toLowerCase();
      document.querySelectorAll(".card[data-search]").forEach(function (card) {
        card.hidden = term !== "" && card.dataset.search.indexOf(term) === -1;
      });
      document.querySelectorAll("section.domain").forEach(function (section) {
        section.hidden = section.querySelectorAll(".card:not([hidden])").length === 0;
      });
    });
  }

  function chart(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas || typeof Chart === "undefined") return;
    config.options = Object.assign({ animation: false, maintainAspectRatio: false, responsive: true }, config.options);
    new Chart(canvas, config);
    canvas.dataset.rendered = "true";
  }

  function drawCharts() {
    var node = document.getElementById("chart-data");
    if (!node) return;
    var data = JSON.parse(node.textContent);
    var q = data.quality || [];
    chart("quality-chart", {
      type: "line",
      data: {
        labels: q.map(function (p) { return p.label; }),
        datasets: [{
          label: "Expectations met (%)", data: q.map(function (p) { return p.rate; }),
          borderColor: "#0171ce", backgroundColor: "rgba(1,113,206,.12)", fill: true, tension: 0.2,
          pointRadius: 4, pointBackgroundColor: q.map(function (p) { return p.success ? "#1a7f37" : "#c62828"; })
        }]
      },
      options: { scales: { y: { min: 0, max: 100, title: { display: true, text: "% met" } } },
        plugins: { legend: { display: false } } }
    });
    var f = (data.freshness || {}).points || [];
    var sla = (data.freshness || {}).sla_hours;
    var sets = [{
      type: "bar", label: "Age of newest partition (h)", data: f.map(function (p) { return p.age; }),
      backgroundColor: f.map(function (p) { return sla && p.age > sla ? "rgba(198,40,40,.7)" : "rgba(26,127,55,.7)"; })
    }];
    if (sla) {
      sets.push({ type: "line", label: "SLA (" + sla + " h)", data: f.map(function () { return sla; }),
        borderColor: "#9a6700", borderDash: [6, 4], pointRadius: 0, fill: false });
    }
    chart("freshness-chart", {
      type: "bar",
      data: { labels: f.map(function (p) { return p.label; }), datasets: sets },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: "hours" } } } }
    });
  }

  // ---- Query panel: POST the SQL to the governed port with the page's session cookie ----------

  var NUMERIC = /^(u?int\d*|int\d+|float|double|halffloat|decimal)/;

  function cellText(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number" && !Number.isInteger(value)) return value.toLocaleString(undefined, { maximumFractionDigits: 4 });
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  function renderTable(table, body) {
    var head = document.createElement("tr");
    body.columns.forEach(function (name, i) {
      var th = document.createElement("th");
      th.textContent = name;
      if (NUMERIC.test(body.types[i] || "")) th.className = "num";
      head.appendChild(th);
    });
    table.tHead.replaceChildren(head);
    var rows = body.rows.map(function (row) {
      var tr = document.createElement("tr");
      row.forEach(function (value, i) {
        var td = document.createElement("td");
        td.textContent = cellText(value);
        if (NUMERIC.test(body.types[i] || "")) td.className = "num";
        tr.appendChild(td);
      });
      return tr;
    });
    table.tBodies[0].replaceChildren.apply(table.tBodies[0], rows);
    table.hidden = false;
  }

  var queryChart = null;

  // A group-by answer: exactly one numeric column, the others label the bars (at most 100 of them).
  function renderChart(box, canvas, body) {
    if (queryChart) { queryChart.destroy(); queryChart = null; }
    box.hidden = true;
    canvas.dataset.rendered = "false";
    var numeric = body.types.map(function (t) { return NUMERIC.test(t); });
    var value = numeric.indexOf(true);
    if (typeof Chart === "undefined" || value < 0 || numeric.lastIndexOf(true) !== value) return;
    if (body.columns.length < 2 || body.rows.length === 0 || body.rows.length > 100) return;
    box.hidden = false;
    queryChart = new Chart(canvas, {
      type: "bar",
      data: {
        labels: body.rows.map(function (row) {
          return row.filter(function (_, i) { return i !== value; }).map(cellText).join(" · ");
        }),
        datasets: [{ label: body.columns[value], data: body.rows.map(function (row) { return row[value]; }),
          backgroundColor: "rgba(1,113,206,.7)" }]
      },
      options: { animation: false, maintainAspectRatio: false, responsive: true,
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true, title: { display: true, text: body.columns[value] } } } }
    });
    canvas.dataset.rendered = "true";
  }

  function queryPanel() {
    var panel = document.getElementById("query");
    var form = document.getElementById("query-form");
    if (!panel || !form) return;
    var sql = document.getElementById("query-sql");
    var status = document.getElementById("query-status");
    var error = document.getElementById("query-error");
    var table = document.getElementById("query-result");
    var box = document.getElementById("query-chart-box");
    var canvas = document.getElementById("query-chart");
    var run = document.getElementById("query-run");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      run.disabled = true;
      status.textContent = "Running…";
      error.hidden = true;
      fetch(panel.dataset.sqlUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify({ sql: sql.value, limit: 500 })
      }).then(function (answer) {
        return answer.json().catch(function () { return { detail: answer.statusText }; })
          .then(function (body) { return { ok: answer.ok, status: answer.status, body: body }; });
      }).then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status + ": " + (res.body.detail || res.status));
        var b = res.body;
        renderTable(table, b);
        renderChart(box, canvas, b);
        var read = b.products.map(function (p) { return p.id + " v" + p.version; }).join(", ") || "no product";
        status.textContent = b.rows.length + (b.truncated ? "+" : "") + " rows from " + read + " in " +
          Math.round(b.elapsed_ms) + " ms" + (b.truncated ? " (first " + b.rows.length + " shown)" : "");
      }).catch(function (err) {
        table.hidden = true; box.hidden = true;
        status.textContent = "";
        error.textContent = err.message;
        error.hidden = false;
      }).finally(function () { run.disabled = false; });
    });
  }

  // ---- "Use this product": a Copy button on every snippet, the server's own origin in URLs ----

  // ---- Access panel: request access; approve, deny or revoke (the API decides who may) ----

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (answer) {
      return answer.json().catch(function () { return { detail: answer.statusText }; }).then(function (b) {
        if (!answer.ok) throw new Error("HTTP " + answer.status + ": " + (b.detail || answer.status));
        return b;
      });
    });
  }

  function accessPanel() {
    var panel = document.getElementById("access");
    if (!panel || !panel.dataset.api) return;
    var api = panel.dataset.api, status = document.getElementById("access-status");
    var form = document.getElementById("request-access-form"), open = document.getElementById("request-access-open");
    var fail = function (err) { status.textContent = err.message; status.className = "error small"; };
    if (open && form) open.addEventListener("click", function () { form.hidden = false; open.hidden = true; });
    if (form) form.addEventListener("submit", function (event) {
      event.preventDefault();
      var columns = Array.prototype.map.call(form.querySelectorAll("input[name=columns]:checked"), function (i) { return i.value; });
      post(api + "/products/" + encodeURIComponent(panel.dataset.product) + "/access-requests", {
        columns: columns, purpose: form.elements.purpose.value, duration_days: Number(form.elements.days.value)
      }).then(function (r) { status.textContent = "Request #" + r.id + " sent to the owning team."; window.location.reload(); }, fail);
    });
    panel.querySelectorAll(".access-action").forEach(function (button) {
      button.addEventListener("click", function () {
        var id = button.closest("tr").dataset.request, action = button.dataset.action, body = {};
        if (action === "deny") {
          var reason = window.prompt("Why is request #" + id + " denied?");
          if (!reason) return;
          body.reason = reason;
        }
        post(api + "/access-requests/" + id + "/" + action, body).then(function () { window.location.reload(); }, fail);
      });
    });
  }

  function snippets() {
    document.querySelectorAll(".snippet .origin").forEach(function (span) { span.textContent = window.location.origin; });
    document.querySelectorAll(".snippet pre").forEach(function (pre) {
      var button = document.createElement("button");
      button.type = "button"; button.className = "copy"; button.textContent = "Copy";
      button.addEventListener("click", function () {
        var text = pre.querySelector("code").textContent;
        var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done);
        } else {
          var area = document.createElement("textarea");
          area.value = text; document.body.appendChild(area); area.select();
          document.execCommand("copy"); area.remove(); done();
        }
      });
      pre.parentNode.insertBefore(button, pre);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    filterCatalog(); drawCharts(); queryPanel(); accessPanel(); snippets();
  });
})();
