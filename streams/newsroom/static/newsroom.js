// newswatch newsroom: live updates for the alert list and the stories panel. Plain
// JavaScript, no build step. Server-Sent Events from /events (alerts are resumable: the
// browser sends Last-Event-ID on reconnect; stories are state, so the panel is re-read from
// /updates/stories whenever the connection is (re)established). After repeated failures, a
// refused connection (503: the server has its maximum of live clients) or without
// EventSource, it polls /updates and /updates/stories instead.
// Alerts and stories arrive as HTML rendered (and escaped) by the server's templates.
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
    var stories = new Set(mutes.stories || []);
    list.querySelectorAll("li.alert").forEach(function (node) {
      var ids = (node.dataset.entities || "").split(" ").filter(Boolean);
      var muted = rules.has(node.dataset.rule) || stories.has(node.dataset.story) ||
        (ids.length > 0 && ids.every(function (e) { return entities.has(e); }));
      node.hidden = muted;
    });
    document.querySelectorAll("#stories li.story").forEach(function (node) {
      node.hidden = stories.has(node.dataset.id);
    });
  }

  // The stories panel: a created or grown story replaces its old item and moves to the top.
  var panel = document.getElementById("stories");
  var storyEvents = 0;  // live story events so far: a re-read older than one is stale
  function upsertStory(item) {
    if (!panel) return;
    storyEvents += 1;
    var ol = panel.querySelector("ol");
    var node = fragment(item.html);
    if (!node) return;
    var old = document.getElementById("story-item-" + item.id);
    if (old) old.remove();
    node.classList.add("is-new");
    ol.insertBefore(node, ol.firstElementChild);
    var limit = parseInt(panel.dataset.limit, 10) || 10;
    while (ol.children.length > limit) ol.lastElementChild.remove();
    panel.hidden = false;
    setTimeout(function () { node.classList.remove("is-new"); }, 4000);
  }

  // Re-read the whole panel: after a (re)connect, stories missed meanwhile are in it.
  function loadStories(retried) {
    if (!panel || !window.fetch) return;
    var seen = storyEvents;
    fetch(panel.dataset.source, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        // A story event arrived while the answer was on its way: it may be older than that
        // event, so ask again (once; the live events keep the panel current after that).
        if (seen !== storyEvents) { if (!retried) loadStories(true); return; }
        var ol = panel.querySelector("ol");
        var nodes = (data.stories || []).map(function (item) { return fragment(item.html); })
          .filter(Boolean);
        ol.textContent = "";
        nodes.forEach(function (node) { ol.appendChild(node); });
        panel.hidden = nodes.length === 0;
      })
      .catch(function () { /* keep what the panel shows; the next (re)connect retries */ });
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

  // Mute a story from the panel without leaving the page (the form works without it too).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("mute") || !window.fetch) return;
    event.preventDefault();
    // getAttribute: the form's field named "action" shadows the form.action property.
    fetch(form.getAttribute("action"), {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) { applyMutes(data); loadStories(false); })
      .catch(function () { form.submit(); });
  });

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
        loadStories(false);
      })
      .catch(function () { setLive("off", "Offline, retrying"); })
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  if (!window.EventSource) { poll(); return; }
  var failures = 0;
  var source = new EventSource("/events?" + (query ? query + "&" : "") + "after=" + encodeURIComponent(lastId));
  source.addEventListener("ready", function () {
    failures = 0;
    setLive("live", "Live");
    loadStories(false);  // stories changed while (re)connecting are in the panel's current state
  });
  source.addEventListener("story", function (e) { upsertStory(JSON.parse(e.data)); });
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
    // CLOSED: the browser will not retry (an HTTP error such as 503 when the server is full).
    if (source.readyState === EventSource.CLOSED || failures >= MAX_SSE_FAILURES) {
      source.close();
      poll();
    }
  };
})();
