/* Charts: each element with data-chart is drawn from /api/db/charts/<chart>?<data-query> with
   plotly.js (served from the installed plotly package). The benchmark configuration picker
   redraws the configuration's charts; a live change redraws every chart, at most once a second. */
(function () {
  "use strict";
  var CONFIG = { responsive: true, displaylogo: false, displayModeBar: false };

  function fail(el, text) {
    el.textContent = "";
    var p = document.createElement("p");
    p.className = "problem";
    p.textContent = "Chart unavailable: " + text;
    el.appendChild(p);
  }

  function draw(el) {
    var url = "/api/db/charts/" + encodeURIComponent(el.dataset.chart) + "?" + el.dataset.query;
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error((body.error && body.error.message) || "HTTP " + r.status);
          return body;
        });
      })
      .then(function (body) {
        if (!el.dataset.drawn) el.textContent = "";
        var layout = Object.assign({ autosize: true }, body.figure.layout || {});
        // The caption under the chart names it: the legend takes the title's place on top, so
        // neither it nor the axis titles are hidden on a narrow page.
        layout.title = null;
        layout.legend = Object.assign({}, layout.legend || {}, {
          orientation: "h", x: 0, y: 1.02, xanchor: "left", yanchor: "bottom"
        });
        layout.margin = Object.assign({}, layout.margin || {}, { t: 40 });
        el.dataset.drawn = "1";
        return window.Plotly.react(el, body.figure.data || [], layout, CONFIG).then(function () {
          if (window.performance && performance.mark) performance.mark("ui-chart:" + el.id);
        });
      })
      .catch(function (err) {
        fail(el, err.message);
      });
  }

  function drawAll() {
    document.querySelectorAll("[data-chart]").forEach(draw);
  }

  var picker = document.getElementById("config");
  if (picker) {
    picker.addEventListener("change", function () {
      document.querySelectorAll("[data-config-chart]").forEach(function (el) {
        el.dataset.query = picker.value + "&metric=" + encodeURIComponent(el.dataset.metric);
        draw(el);
      });
    });
  }

  var pending = null;
  document.addEventListener("ui:change", function () {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      drawAll();
    }, 1000);
  });

  if (!window.Plotly) {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      fail(el, "plotly.js did not load");
    });
    return;
  }
  drawAll();
})();
