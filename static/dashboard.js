// Live status on the dashboard: one events WebSocket per REPL row. Progress updates the
// row in place; a change of state fetches the row again, so every tab shows the same.
(function () {
  "use strict";
  const sockets = new Map();
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";

  function row(id) {
    return document.getElementById("repl-" + id);
  }

  function refresh(id) {
    const element = row(id);
    if (element && window.htmx) {
      htmx.ajax("GET", "/dashboard/repls/" + id + "/row", { target: element, swap: "outerHTML" });
    }
  }

  function apply(id, event) {
    const element = row(id);
    if (!element) return;
    if (event.state !== element.dataset.state) {
      element.dataset.state = event.state;
      refresh(id);
      return;
    }
    const bar = element.querySelector("progress");
    if (bar && typeof event.progress === "number") bar.value = event.progress;
    const message = element.querySelector(".progress-message");
    if (message && event.state === "starting" && event.message) message.textContent = event.message;
  }

  function watch(id, delay) {
    if (sockets.has(id)) return;
    const socket = new WebSocket(scheme + location.host + "/api/repl/" + id + "/events");
    sockets.set(id, socket);
    socket.onmessage = function (message) {
      delay = 500;
      apply(id, JSON.parse(message.data));
    };
    socket.onclose = function () {
      sockets.delete(id);
      if (row(id)) setTimeout(function () { watch(id, Math.min(delay * 2, 10000)); }, delay);
    };
  }

  function scan() {
    const present = new Set();
    document.querySelectorAll("li.repl[data-repl-id]").forEach(function (element) {
      present.add(element.dataset.replId);
      watch(element.dataset.replId, 500);
    });
    sockets.forEach(function (socket, id) {
      if (!present.has(id)) { sockets.delete(id); socket.close(); }
    });
  }

  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:afterSettle", scan);
})();
