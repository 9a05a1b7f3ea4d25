// The workspace IDE: file tree, editor and terminal over the runner WebSocket protocol.
(function () {
  "use strict";
  const replId = document.body.dataset.replId;
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const $ = function (id) { return document.getElementById(id); };
  const status = $("editor-status"), tree = $("tree");
  let socket = null, openPath = null, selected = "/", selectedIsDir = true, dirty = false;
  let terminalId = null, pathAction = null;
  const expanded = new Set(["/"]);

  const term = new Terminal({ cursorBlink: true, fontSize: 13, convertEol: false });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open($("terminal"));
  term.textarea.setAttribute("aria-label", "Terminal input");
  const editor = DevexEditor.create($("editor"), {
    label: "File contents",
    describedBy: "editor-help",
    onChange: function () { dirty = true; say("Unsaved changes"); },
  });

  // Answers whether the message went out: nothing is queued while disconnected.
  function send(event, data) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify({ event: event, data: data }));
    return true;
  }
  function join(dir, name) { return (dir === "/" ? "" : dir) + "/" + name; }
  function parent(path) { const i = path.lastIndexOf("/"); return i <= 0 ? "/" : path.slice(0, i); }
  function say(text) { status.textContent = text; }

  function listFor(dir) {
    if (dir === "/") return tree;
    const item = tree.querySelector('li[data-path="' + CSS.escape(dir) + '"]');
    if (!item) return null;
    let list = item.querySelector(":scope > ul");
    if (!list) { list = document.createElement("ul"); list.setAttribute("role", "group"); item.appendChild(list); }
    return list;
  }

  function render(dir, contents) {
    const list = listFor(dir);
    if (!list) return;
    list.replaceChildren();
    contents.forEach(function (entry) {
      const path = join(dir, entry.name);
      const item = document.createElement("li");
      item.dataset.path = path;
      item.className = entry.isDir ? "dir" + (expanded.has(path) ? " open" : "") : "file";
      item.setAttribute("role", "treeitem");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = entry.name;
      button.setAttribute("aria-selected", String(path === selected));
      if (entry.isDir) button.setAttribute("aria-expanded", String(expanded.has(path)));
      button.addEventListener("click", function () { choose(path, entry.isDir); });
      item.appendChild(button);
      list.appendChild(item);
      if (entry.isDir && expanded.has(path)) send("fetchDir", { Dir: path });
    });
  }

  function choose(path, isDir) {
    selected = path; selectedIsDir = isDir;
    tree.querySelectorAll("button[aria-selected]").forEach(function (b) { b.setAttribute("aria-selected", "false"); });
    const button = tree.querySelector('li[data-path="' + CSS.escape(path) + '"] > button');
    if (button) button.setAttribute("aria-selected", "true");
    $("rename").disabled = $("delete").disabled = false;
    if (isDir) {
      if (expanded.has(path)) { expanded.delete(path); refresh(parent(path)); }
      else { expanded.add(path); refresh(parent(path)); }
    } else {
      if (dirty && !confirm("Discard unsaved changes to " + openPath + "?")) return;
      send("fetchContent", { path: path });
    }
  }

  function refresh(dir) { send("fetchDir", { Dir: dir }); }
  function refreshAll() { send("Connection"); }

  function save() {
    if (!openPath) return;
    if (send("updateContent", { path: openPath, content: editor.text() })) say("Saving...");
    else say("Not saved: not connected to the workspace");
  }

  function askPath(label, initial, action) {
    pathAction = action;
    $("path-label").textContent = label;
    $("path-input").value = initial;
    $("path-form").hidden = false;
    $("path-input").focus();
  }

  const handlers = {
    Loaded: function (data) { render("/", data.rootContents); },
    fetchDirResponse: function (data) { if (!data.error) render(data.path, data.contents); },
    fetchContentResponse: function (data) {
      if (data.error) { say(data.error); return; }
      openPath = data.path; dirty = false;
      editor.open(data.path, data.content); $("save").disabled = false;
      $("open-file").textContent = data.path.replace(/^\//, "");
      say("");
    },
    updateContentResponse: function (data) {
      if (data.error) { say("Not saved: " + data.error); return; }
      dirty = false; say("Saved");
    },
    createFileResponse: function (data) { done(data); if (!data.error) { refreshAll(); send("fetchContent", { path: data.path }); } },
    createFolderResponse: function (data) {
      done(data);
      if (data.error) return;
      expanded.add(data.path); selected = data.path; selectedIsDir = true;
      $("rename").disabled = $("delete").disabled = false;
      refreshAll();
    },
    renameResponse: function (data) {
      done(data);
      if (!data.error && openPath === data.oldPath) { openPath = data.newPath; $("open-file").textContent = data.newPath.replace(/^\//, ""); }
      refreshAll();
    },
    deleteResponse: function (data) {
      done(data);
      if (!data.error && openPath && (openPath === data.path || openPath.startsWith(data.path + "/"))) {
        openPath = null; editor.close(); $("save").disabled = true;
        $("open-file").textContent = "No file open";
      }
      selected = "/"; selectedIsDir = true; $("rename").disabled = $("delete").disabled = true;
      refreshAll();
    },
    terminalConnected: function (data) { terminalId = data.sessionId; resize(); },
    terminalResponse: function (data) { term.write(data); },
    terminalClosed: function () { terminalId = null; term.write("\r\n[terminal closed]\r\n"); },
    terminalError: function (data) { term.write("\r\n[" + data.error + "]\r\n"); },
    error: function (data) { say(data.message); },
  };
  function done(data) { say(data.error ? data.error : "Done"); }

  function resize() {
    try { fit.fit(); } catch (e) { return; }
    if (terminalId) send("terminalResize", { cols: term.cols, rows: term.rows, sessionId: terminalId });
  }

  // Tells a workspace that has stopped (from the dashboard, or idle) from a brief drop:
  // its runner no longer answers at all.
  function explainDisconnect() {
    fetch("/" + replId + "/ping", { credentials: "same-origin" }).then(function (response) {
      if ([404, 502, 503].indexOf(response.status) >= 0 && socket.readyState !== WebSocket.OPEN) {
        $("connection").textContent = "This workspace is not running; start it again from the dashboard";
      }
    }).catch(function () { return; });
  }

  function connect(delay) {
    socket = new WebSocket(scheme + location.host + "/" + replId + "/api/v1/repl/ws");
    socket.onopen = function () {
      delay = 500;
      $("connection").textContent = "Connected";
      send("Connection");
      send("requestTerminal", {});
    };
    socket.onmessage = function (message) {
      const parsed = JSON.parse(message.data);
      const handler = handlers[parsed.event];
      if (handler) handler(parsed.data);
    };
    socket.onclose = function () {
      $("connection").textContent = "Disconnected; reconnecting...";
      terminalId = null;
      explainDisconnect();
      setTimeout(function () { connect(Math.min(delay * 2, 10000)); }, delay);
    };
  }

  term.onData(function (data) { if (terminalId) send("terminalInput", { data: data, sessionId: terminalId }); });
  new ResizeObserver(resize).observe($("terminal"));
  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") { event.preventDefault(); save(); }
  });
  $("save").addEventListener("click", save);
  $("new-file").addEventListener("click", function () {
    askPath("New file name", "", function (name) { send("createFile", { path: join(selectedIsDir ? selected : parent(selected), name) }); });
  });
  $("new-folder").addEventListener("click", function () {
    askPath("New folder name", "", function (name) { send("createFolder", { path: join(selectedIsDir ? selected : parent(selected), name) }); });
  });
  $("rename").addEventListener("click", function () {
    const old = selected;
    askPath("Rename " + old.replace(/^\//, "") + " to", old.split("/").pop(), function (name) {
      send("rename", { oldPath: old, newPath: join(parent(old), name) });
    });
  });
  $("delete").addEventListener("click", function () {
    if (selected !== "/" && confirm("Delete " + selected.replace(/^\//, "") + "?")) send("delete", { path: selected });
  });
  $("path-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const value = $("path-input").value.trim();
    $("path-form").hidden = true;
    if (value && pathAction) pathAction(value);
  });
  $("path-cancel").addEventListener("click", function () { $("path-form").hidden = true; });
  window.addEventListener("beforeunload", function (event) { if (dirty) event.preventDefault(); });
  connect(500);
})();
