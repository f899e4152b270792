// The welcome page asks for its order's state until the studio is ready, and shows it
// without a reload. Without JavaScript the page refreshes itself (a <noscript> meta refresh).
(function () {
  "use strict";
  var main = document.getElementById("welcome");
  if (!main) return;
  var url = main.getAttribute("data-status-url");
  var every = parseInt(main.getAttribute("data-poll-ms"), 10) || 2000;
  var status = document.getElementById("status");
  var urls = document.getElementById("urls");
  var billing = document.getElementById("billing");

  function show(st) {
    status.textContent = st.message;
    status.setAttribute("data-state", st.state);
    while (urls.firstChild) urls.removeChild(urls.firstChild);
    (st.urls || []).forEach(function (u) {
      if (!/^https?:\/\//.test(u)) return;
      var a = document.createElement("a");
      a.href = u;
      a.rel = "noreferrer";
      a.textContent = u;
      var li = document.createElement("li");
      li.appendChild(a);
      urls.appendChild(li);
    });
    billing.hidden = !st.billing;
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, cache: "no-store", credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (st) {
        if (st) show(st);
        if (!st || st.state !== "ready") setTimeout(poll, every);
      })
      .catch(function () { setTimeout(poll, every * 2); });
  }

  if (status.getAttribute("data-state") !== "ready") setTimeout(poll, every);
})();
