/* Draws every <canvas data-chart="ID"> from the JSON spec in <script id="ID">
   (built by reports/charts.py). A click on a bar or point opens spec.links[i],
   the list behind the figure. Requires static/vendor/chart.umd.js. */
(function () {
  "use strict";

  function draw(canvas) {
    if (canvas.dataset.rendered === "true" || typeof Chart === "undefined") {
      return;
    }
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) {
      return;
    }
    var spec = JSON.parse(source.textContent);
    var scales = {
      x: { stacked: !!spec.stacked },
      y: { stacked: !!spec.stacked, beginAtZero: true },
    };
    if (spec.yTitle) {
      scales.y.title = { display: true, text: spec.yTitle };
    }
    var chart = new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: spec.datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: scales,
        plugins: { legend: { display: spec.legend !== false } },
        onHover: function (event, elements) {
          event.native.target.style.cursor =
            elements.length && spec.links ? "pointer" : "default";
        },
        onClick: function (event, elements) {
          if (elements.length && spec.links && spec.links[elements[0].index]) {
            window.location.href = spec.links[elements[0].index];
          }
        },
      },
    });
    canvas.dataset.rendered = chart ? "true" : "false";
  }

  function drawAll(root) {
    (root || document).querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawAll(document);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    drawAll(event.target);
  });
})();
