/* A job's page: follow its WebSocket (/api/<component>/ws/<id>) and show each status it sends.
   The socket is reopened with backoff until the job has finished. */
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box) return;
  var DONE = ["completed", "failed", "cancelled", "timeout"];
  var delay = 500, finished = false;

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = value;
  }

  function show(s) {
    var badge = document.createElement("span");
    badge.className = "badge s-" + (s.status || "unknown");
    badge.textContent = s.status || "unknown";
    var holder = document.getElementById("job-status");
    holder.textContent = "";
    holder.appendChild(badge);
    var progress = typeof s.progress === "number" ? s.progress : 0;
    document.getElementById("job-progress").value = progress;
    text("job-percent", Math.round(progress * 100) + "%");
    text("job-step", s.current_step || "–");
    if (typeof s.elapsed_time === "number") text("job-elapsed", s.elapsed_time.toFixed(1));
    var error = document.getElementById("job-error");
    error.hidden = !s.error;
    error.textContent = s.error || "";
    finished = DONE.indexOf(s.status) >= 0;
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var path = "/api/" + box.dataset.component + "/ws/" + encodeURIComponent(box.dataset.job);
    var ws = new WebSocket(scheme + window.location.host + path);
    ws.onmessage = function (message) {
      var s = JSON.parse(message.data);
      if (s.type === "error") {
        var e = document.getElementById("job-error");
        e.hidden = false;
        e.textContent = s.message || String(s.error);
        finished = true;
        return;
      }
      if (s.status) show(s);
      if (finished) ws.close();
    };
    ws.onclose = function () {
      if (finished) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
})();
