// Data Products UI: live catalog filter and the product page's two charts (Chart.js, vendored).
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

  document.addEventListener("DOMContentLoaded", function () { filterCatalog(); drawCharts(); });
})();
