// newswatch newsroom: live updates for the alert list. Plain JavaScript, no build step.
// Server-Sent Events from /events (resumable: the browser sends Last-Event-ID on reconnect);
// after repeated failures, or without EventSource, it polls /updates instead.
// Alerts arrive as HTML rendered (and escaped) by the server's template.
"use strict";
(function () {
  var list = document.getElementById("alerts");
  var live = document.getElementById("live");
  var POLL_MS = 5000, MAX_SSE_FAILURES = 3;

  function setLive(state, text) {
    if (!live) return;
    live.dataset.state = state;
    live.textContent = text;
  }

  function fragment(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html.trim();  // server-rendered with autoescaping
    return tpl.content.firstElementChild;
  }

  function addAlert(item) {
    if (!list || document.getElementById("alert-" + item.id)) return;
    var node = fragment(item.html);
    if (!node) return;
    node.classList.add("is-new");
    countFacets(item.facets);
    list.insertBefore(node, list.firstElementChild);
    var empty = document.getElementById("empty");
    if (empty) empty.remove();
    setTimeout(function () { node.classList.remove("is-new"); }, 4000);
    var count = list.children.length;
    var summary = document.getElementById("summary");
    if (summary) summary.textContent = count + " shown, newest first (live).";
    setLive(live.dataset.state, "Live · new: " + item.title.slice(0, 80));
  }

  // A live alert matches every filter, so each of its facet values counts one more.
  function countFacets(facets) {
    Object.keys(facets || {}).forEach(function (facet) {
      facets[facet].forEach(function (value) {
        document.querySelectorAll("a[data-facet]").forEach(function (link) {
          if (link.dataset.facet !== facet || link.dataset.value !== value) return;
          var count = link.querySelector(".count");
          var n = parseInt(count.textContent, 10) + 1;
          count.textContent = String(n);
          count.setAttribute("aria-label", n + " alerts");
        });
      });
    });
  }

  function setAcked(id, acked) {
    var node = document.getElementById("alert-" + id);
    if (!node) return;
    node.classList.toggle("is-acked", acked);
    node.querySelectorAll("form.ack").forEach(function (form) {
      form.querySelector("input[name=acked]").value = acked ? "0" : "1";
      form.querySelector("button").textContent = acked ? "Reopen" : "Acknowledge";
    });
  }

  function applyMutes(mutes) {
    if (!list || /(^|&)muted=1(&|$)/.test(list.dataset.query || "")) return;
    var entities = new Set(mutes.entities || []), rules = new Set(mutes.rules || []);
    list.querySelectorAll("li.alert").forEach(function (node) {
      var ids = (node.dataset.entities || "").split(" ").filter(Boolean);
      var muted = rules.has(node.dataset.rule) ||
        (ids.length > 0 && ids.every(function (e) { return entities.has(e); }));
      node.hidden = muted;
    });
  }

  // Acknowledge without leaving the page (the form still works without JavaScript).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("ack") || !window.fetch) return;
    event.preventDefault();
    fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) { setAcked(data.id, data.acked); })
      .catch(function () { form.submit(); });
  });

  // Stories (articles about the same event, grouped) come from /api/stories once the
  // server has them; until then the panel stays hidden. Built with textContent: API JSON.
  function loadStories() {
    var panel = document.getElementById("stories");
    if (!panel || !window.fetch) return;
    fetch(panel.dataset.source, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        var stories = (data && (data.stories || data.items)) || [];
        if (!stories.length) return;
        var ol = panel.querySelector("ol");
        ol.textContent = "";
        stories.forEach(function (story) {
          var li = document.createElement("li");
          var head = document.createElement("a");
          head.href = "/stories/" + encodeURIComponent(String(story.id || ""));
          head.textContent = String(story.headline || story.title || story.id || "");
          var strong = document.createElement("strong");
          strong.appendChild(head);
          li.appendChild(strong);
          var count = typeof story.sources === "number" ? story.sources : (story.sources || []).length;
          var langs = story.languages || [];
          var meta = document.createElement("span");
          meta.className = "story-meta";
          meta.textContent = " · " + count + " sources" + (langs.length ? " · " + langs.join(", ") : "") +
            (story.breaking ? " · breaking" : "");
          li.appendChild(meta);
          ol.appendChild(li);
        });
        panel.hidden = false;
      })
      .catch(function () { /* no stories endpoint yet: keep the panel hidden */ });
  }
  loadStories();

  if (!list) return;
  var lastId = list.dataset.lastId || "0-0";
  var query = list.dataset.query || "";

  function poll() {
    setLive("polling", "Updating every " + POLL_MS / 1000 + " s");
    var url = "/updates?" + (query ? query + "&" : "") + "after=" + encodeURIComponent(lastId);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        (data.alerts || []).forEach(addAlert);
        if (data.last_id) lastId = data.last_id;
      })
      .catch(function () { setLive("off", "Offline, retrying"); })
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  if (!window.EventSource) { poll(); return; }
  var failures = 0;
  var source = new EventSource("/events?" + (query ? query + "&" : "") + "after=" + encodeURIComponent(lastId));
  source.addEventListener("ready", function () { failures = 0; setLive("live", "Live"); });
  source.addEventListener("alert", function (e) {
    if (e.lastEventId) lastId = e.lastEventId;
    addAlert(JSON.parse(e.data));
  });
  source.addEventListener("ack", function (e) {
    var data = JSON.parse(e.data);
    setAcked(data.id, data.acked);
  });
  source.addEventListener("mutes", function (e) { applyMutes(JSON.parse(e.data)); });
  source.onerror = function () {
    failures += 1;
    setLive("off", "Reconnecting…");
    if (failures >= MAX_SSE_FAILURES) { source.close(); poll(); }
  };
})();
