// Operations page: re-read operations.json every few seconds and redraw the three tables.
(function () {
  "use strict";
  var box = document.getElementById("ops");
  if (!box) { return; }
  var url = box.dataset.pollUrl;
  var PERIOD_MS = 5000;

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (text instanceof Node) { td.appendChild(text); } else { td.textContent = text == null ? "" : String(text); }
    if (className) { td.className = className; }
    row.appendChild(td);
    return td;
  }
  function chip(state, label) {
    var span = document.createElement("span");
    span.className = "state " + state;
    span.textContent = label;
    return span;
  }
  function time(iso) { return iso ? iso.slice(0, 19).replace("T", " ") : ""; }
  function fill(tableId, items, columns, draw) {
    var body = document.querySelector("#" + tableId + " tbody");
    body.textContent = "";
    if (!items.length) {
      var row = body.insertRow();
      var td = cell(row, body.dataset.empty || "Nothing here.", "muted");
      td.colSpan = columns;
      return;
    }
    items.forEach(function (item) { draw(body.insertRow(), item); });
  }
  function draw(s) {
    fill("ops-queues", s.queues, 6, function (row, q) {
      row.dataset.queue = q.queue;
      cell(row, q.queue);
      cell(row, q.online.length ? q.online.join(", ") : q.waiting_for, q.online.length ? "" : "bad");
      cell(row, q.waiting); cell(row, q.running);
      cell(row, q.oldest_wait_s == null ? "—" : q.oldest_wait_s + " s");
      cell(row, q.graded_last_hour);
    });
    fill("ops-workers", s.workers, 7, function (row, w) {
      row.dataset.worker = w.name;
      cell(row, w.name);
      cell(row, chip(w.online ? "graded" : "error", w.online ? "online" : "offline"));
      cell(row, w.queues.join(", ")); cell(row, w.gpus.join(", ") || "—"); cell(row, w.concurrency);
      var code = document.createElement("code"); code.textContent = w.engine_version; cell(row, code);
      cell(row, time(w.last_seen_at));
    });
    fill("ops-jobs", s.jobs, 8, function (row, j) {
      row.dataset.job = j.kind + "-" + j.id;
      var link = document.createElement("a"); link.href = j.url; link.textContent = j.what; cell(row, link);
      cell(row, j.who);
      var state = j.waiting_for ? chip("queued", "waiting") : chip(j.state, j.state);
      var td = cell(row, state);
      if (j.waiting_for) { td.appendChild(document.createTextNode(" " + j.waiting_for)); }
      cell(row, j.queue); cell(row, j.attempt); cell(row, time(j.since)); cell(row, j.progress); cell(row, j.worker);
    });
    document.getElementById("ops-updated").textContent = "as of " + s.now.slice(11, 19) + " UTC";
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (s) { draw(s); window.setTimeout(poll, PERIOD_MS); })
      .catch(function () { window.setTimeout(poll, PERIOD_MS * 3); });
  }
  window.setTimeout(poll, PERIOD_MS);
})();
