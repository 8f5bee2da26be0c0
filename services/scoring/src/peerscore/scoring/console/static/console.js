// Peerscore console: the only script. Follows a running preview (progress bar) and opens the page when done.
(function () {
  "use strict";
  var job = document.getElementById("job");
  if (!job) { return; }
  var bar = document.getElementById("bar");
  var text = document.getElementById("bar-text");
  function poll() {
    fetch(job.dataset.progressUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        if (p.status !== "running") { window.location.assign(job.dataset.doneUrl); return; }
        bar.max = Math.max(p.total, 1);
        bar.value = p.done;
        text.textContent = p.done.toLocaleString() + " of " + p.total.toLocaleString() + " events replayed";
        window.setTimeout(poll, 500);
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 300);
})();
