// Live progress of a mass create: polls the batch's JSON and updates each account's row, until
// every account has left provisioning. Without JavaScript the page refreshes itself instead.
(function () {
  "use strict";
  var table = document.getElementById("progress");
  var summary = document.getElementById("summary");
  if (!table || !summary || summary.getAttribute("data-done") === "true") return;
  var src = table.getAttribute("data-src");
  function update(p) {
    p.accounts.forEach(function (a) {
      var row = document.getElementById("acc-" + a.id);
      if (!row) return;
      var st = row.querySelector(".state"), why = row.querySelector(".reason");
      st.textContent = a.status;
      st.setAttribute("data-status", a.status);
      why.textContent = a.reason || a.url || "";
    });
    var text = p.done ? "Finished." : "Provisioning… this page updates by itself.";
    summary.textContent = text + " ";
    Object.keys(p.counts).sort().forEach(function (k) {
      var s = document.createElement("span");
      s.className = "pill";
      s.textContent = k + " " + p.counts[k];
      summary.appendChild(s);
      summary.appendChild(document.createTextNode(" "));
    });
    summary.setAttribute("data-done", p.done ? "true" : "false");
    if (p.done) {
      var cancel = document.getElementById("cancel");
      if (cancel) cancel.hidden = true;
    }
    return p.done;
  }
  function poll() {
    fetch(src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (p) { if (!update(p)) setTimeout(poll, 1000); })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
