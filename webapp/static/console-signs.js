// The progress of a street's sign print (/console/signs/jobs/<id>): polls the job's status
// every second and offers the download when it is done. The page works without it (a reload).
(function () {
  "use strict";
  var box = document.getElementById("sign-job");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  var bar = document.getElementById("sign-job-progress");
  var status = document.getElementById("sign-job-status");
  var count = document.getElementById("sign-job-count");
  var error = document.getElementById("sign-job-error");
  var download = document.getElementById("sign-job-download");
  var link = document.getElementById("sign-job-download-link");
  var failures = 0;

  function show(state) {
    bar.max = state.total || 1;
    bar.value = state.done;
    bar.textContent = state.percent + "%";
    status.textContent = state.status_label;
    count.textContent = state.done + "/" + state.total;
    if (state.error) { error.textContent = state.error; error.hidden = false; }
    if (state.download_url) { link.href = state.download_url; download.hidden = false; }
    box.setAttribute("data-status", state.status);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (state) {
        failures = 0;
        show(state);
        if (state.status === "queued" || state.status === "running") { setTimeout(poll, 1000); }
      })
      .catch(function () {
        failures += 1;
        if (failures < 30) { setTimeout(poll, 2000); }
        else { status.textContent = "无法获取进度，请刷新页面"; }
      });
  }

  poll();
}());
