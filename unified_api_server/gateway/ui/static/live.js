/* Live updates: follow the merged change stream and redraw the page's live sections in place.
   Each event (a change, an alert, a component lost or back) asks the server for the page's
   content again (?fragment=1) and swaps every element marked data-live whose content changed.
   Events arriving during a refresh coalesce into one more refresh; the socket reconnects with
   backoff. Other scripts hear "ui:change" (each event) and "ui:refreshed" (after each swap). */
(function () {
  "use strict";
  var status = document.getElementById("live-status");
  var filter = document.body.dataset.live || "";
  var delay = 500, busy = false, dirty = false, timer = null;
  var changed = {}; // the components whose events came since the last refresh: read afresh
  var listenedBefore = false; // a subscription was made before: a new one follows a lost socket

  function say(text) {
    if (status && status.textContent !== text) status.textContent = text;
  }

  function swap(doc) {
    document.querySelectorAll("[data-live][id]").forEach(function (el) {
      var fresh = doc.getElementById(el.id);
      if (!fresh || fresh.innerHTML === el.innerHTML) return;
      // A chart already drawn stays as it is (charts.js redraws it): no flash of "Loading".
      fresh.querySelectorAll("[data-chart][id]").forEach(function (chart) {
        var drawn = document.getElementById(chart.id);
        if (drawn && el.contains(drawn)) chart.replaceWith(drawn);
      });
      var focused = el.contains(document.activeElement) ? document.activeElement.id : null;
      el.replaceWith(fresh);
      if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    });
    document.dispatchEvent(new CustomEvent("ui:refreshed"));
  }

  function refresh() {
    busy = true;
    dirty = false;
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    url.searchParams.set("fresh", Object.keys(changed).join(","));
    changed = {};
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) {
        if (r.redirected) throw new Error("signed out; reload the page to sign in");
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        swap(new DOMParser().parseFromString(html, "text/html"));
      })
      .catch(function (err) {
        say("Live updates: refresh failed (" + err.message + ")");
      })
      .then(function () {
        busy = false;
        if (dirty) schedule();
      });
  }

  function schedule() {
    if (busy) {
      dirty = true;
      return;
    }
    if (!timer) {
      timer = setTimeout(function () {
        timer = null;
        refresh();
      }, 25);
    }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + window.location.host + "/api/db/ws" + (filter ? "?" + filter : ""));
    ws.onopen = function () {
      delay = 500;
    };
    ws.onmessage = function (message) {
      var event;
      try {
        event = JSON.parse(message.data);
      } catch (e) {
        return;
      }
      if (event.pong) return;
      if (event.type === "subscribed") {
        // Listening from now on; after a lost socket, catch up on what was missed meanwhile.
        say("Live updates: on");
        if (listenedBefore) {
          changed["*"] = true;
          schedule();
        }
        listenedBefore = true;
        return;
      }
      if (event.type === "error") {
        say("Live updates: " + (event.message || event.error || "refused"));
        return;
      }
      changed[event.component || "*"] = true;
      document.dispatchEvent(new CustomEvent("ui:change", { detail: event }));
      schedule();
    };
    ws.onclose = function () {
      say("Live updates: reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }

  if (document.querySelector("main [data-live]")) connect();
  else say("");
})();
