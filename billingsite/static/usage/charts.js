/* Draw each <figure class="chart"> from its own table with Chart.js (served from
   /static/vendor/, never a CDN). Without JavaScript, or when Chart.js is missing, the table
   stays the view; with a chart the table folds into "Table view" and stays available. */
(function () {
  "use strict";
  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }
  var PALETTE = ["#4f46e5", "#0f766e", "#b45309", "#be185d", "#1d4ed8", "#4d7c0f"];
  function draw(figure) {
    var table = figure.querySelector("table");
    var canvas = figure.querySelector("canvas");
    if (!table || !canvas || !window.Chart) return;
    var heads = Array.prototype.slice.call(table.querySelectorAll("thead th")).slice(1);
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
    var labels = [];
    var sets = heads.map(function (th, i) {
      return { label: th.textContent.trim(), data: [], backgroundColor: PALETTE[i % PALETTE.length],
               borderColor: PALETTE[i % PALETTE.length] };
    });
    rows.forEach(function (tr) {
      var cells = tr.querySelectorAll("td[data-value]");
      if (!cells.length) return;
      labels.push(tr.querySelector("th").textContent.trim());
      cells.forEach(function (td, i) { sets[i].data.push(Number(td.getAttribute("data-value"))); });
    });
    if (!labels.length) return;
    figure.querySelector(".chart-canvas").hidden = false;
    figure.querySelector("details").open = false;
    var fg = cssVar("--fg", "#1f2333"), grid = cssVar("--line", "#dcdfe8");
    new window.Chart(canvas, {
      type: figure.getAttribute("data-chart") || "bar",
      data: { labels: labels, datasets: sets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: sets.length > 1, labels: { color: fg } } },
        scales: { x: { stacked: true, ticks: { color: fg }, grid: { color: grid } },
                  y: { stacked: true, beginAtZero: true, ticks: { color: fg }, grid: { color: grid } } }
      }
    });
    canvas.setAttribute("data-drawn", "true");
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("figure.chart").forEach(draw);
  });
})();
