// Poll a submission's status until it is final, then reload to show the results.
(function () {
  "use strict";
  var box = document.getElementById("status");
  if (!box || box.dataset.final === "true") { return; }
  var url = box.dataset.statusUrl;
  // the schedule is the page's (web/views/submissions.py STATUS_POLL_*)
  var delay = Number(box.dataset.pollFirstMs);
  var growth = Number(box.dataset.pollGrowth);
  var maxDelay = Number(box.dataset.pollMaxMs);
  function text(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (s) {
        var state = document.getElementById("status-state");
        state.textContent = s.waiting_for ? "waiting" : s.state;
        state.className = "state " + (s.waiting_for ? "queued" : s.state);
        text("status-queue", s.queue_position ? " · position " + s.queue_position + " in the queue" : "");
        text("status-waiting", s.waiting_for ? " · " + s.waiting_for : "");
        var progressBox = document.getElementById("status-progress-box");
        progressBox.hidden = !(s.state === "running" && !s.waiting_for && s.progress.total);
        if (!progressBox.hidden) {
          var bar = document.getElementById("status-progress");
          bar.max = s.progress.total; bar.value = s.progress.done;
          text("status-progress-text", s.progress.done + " / " + s.progress.total + " tests" + (s.progress.part ? " · part: " + s.progress.part : ""));
        }
        text("status-message", s.message || "");
        if (s.final) { window.location.reload(); return; }
        delay = Math.min(delay * growth, maxDelay);
        window.setTimeout(poll, delay);
      })
      .catch(function () { delay = Math.min(delay * 2, 30000); window.setTimeout(poll, delay); });
  }
  window.setTimeout(poll, delay);
})();
