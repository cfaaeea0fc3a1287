// The script editor: a draft checked as it is typed, a simulator that runs the draft with a
// throwaway conversation kept in this page (the server stores nothing of it), publishing
// with a note, and the history with diffs, rollback and approval. Uses dashboard.js's
// helpers (window.Porchlight).
(function () {
  "use strict";

  var P = window.Porchlight;
  var byId = P.byId;
  var CHECK_DELAY_MS = 600;
  var source = byId("source");
  var checkTimer = null;
  var session = null;       // the simulation's state: lives here, never on the server
  var approvalRequired = false;
  var savedAt = null;       // when this page last saved the draft: publish exactly that

  function line(kind, text, options) {
    var item = P.element("li", kind);
    item.appendChild(P.element("span", null, kind === "person" ? "> " + text : text));
    if (options && options.length) {
      var list = P.element("ol");
      options.forEach(function (label) { list.appendChild(P.element("li", null, label)); });
      item.appendChild(list);
    }
    byId("sim-transcript").appendChild(item);
    item.scrollIntoView({ block: "nearest" });
  }

  // ---- Highlighting ----------------------------------------------------------------------
  // Keys, quoted strings and comments, line by line: enough to read a script at a glance.
  // Built from text nodes, never innerHTML: the draft is text.

  var TOKENS = /(#.*$)|("(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?)|(^\s*(?:-\s+)?[\w-]+(?=:))|([\w-]+(?=:\s))/g;

  function highlight() {
    var code = byId("highlight");
    code.textContent = "";
    source.value.split("\n").forEach(function (text, index) {
      if (index) code.appendChild(document.createTextNode("\n"));
      var at = 0;
      text.replace(TOKENS, function (match, comment, string, key, innerKey, offset) {
        if (offset > at) code.appendChild(document.createTextNode(text.slice(at, offset)));
        var kind = comment ? "comment" : string ? "string" : "key";
        code.appendChild(P.element("span", kind, match));
        at = offset + match.length;
        return match;
      });
      if (at < text.length) code.appendChild(document.createTextNode(text.slice(at)));
    });
    code.appendChild(document.createTextNode("\n")); // room for a last empty line
    syncScroll();
  }

  // Once per frame at most: a paste or a browser's input of many lines can fire an input
  // event per line, and re-highlighting a whole script for each made the page freeze.
  var highlightFrame = null;
  function highlightSoon() {
    if (highlightFrame === null) {
      highlightFrame = window.requestAnimationFrame(function () {
        highlightFrame = null;
        highlight();
      });
    }
  }

  function syncScroll() {
    var pre = byId("highlight").parentNode;
    pre.scrollTop = source.scrollTop;
    pre.scrollLeft = source.scrollLeft;
  }

  // ---- The draft and its problems ------------------------------------------------------

  function showProblems(result) {
    var list = byId("problems");
    list.textContent = "";
    result.problems.forEach(function (problem) {
      var item = P.element("li");
      var jump = P.element("button", null, "Line " + problem.line);
      jump.type = "button";
      jump.addEventListener("click", function () { goToLine(problem.line); });
      item.appendChild(jump);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(P.element("span", "rule", problem.rule));
      item.appendChild(document.createTextNode(" " + problem.message));
      list.appendChild(item);
    });
    byId("no-problems").hidden = !result.publishable;
    fillLanguages(result.languages);
  }

  function goToLine(number) {
    var lines = source.value.split("\n");
    var start = 0;
    for (var i = 0; i < Math.max(0, number - 1) && i < lines.length; i++) {
      start += lines[i].length + 1;
    }
    var end = start + (lines[number - 1] || "").length;
    source.focus();
    source.setSelectionRange(start, end);
    var lineHeight = source.scrollHeight / Math.max(1, lines.length);
    source.scrollTop = Math.max(0, (number - 5) * lineHeight);
  }

  function check() {
    return P.api("POST", "/script/check", { source: source.value }).then(function (result) {
      if (result.ok) showProblems(result.data);
      else P.banner(P.errorText(result));
    });
  }

  function fillLanguages(languages) {
    var select = byId("sim-language");
    var chosen = select.value;
    if (!languages.length) return;
    select.textContent = "";
    languages.forEach(function (code) {
      var option = P.element("option", null, code);
      option.value = code;
      select.appendChild(option);
    });
    if (languages.indexOf(chosen) >= 0) select.value = chosen;
  }

  function saveDraft() {
    return P.api("PUT", "/script/draft", { source: source.value }).then(function (result) {
      if (!result.ok) { P.show(byId("draft-status"), P.errorText(result)); return false; }
      showProblems(result.data);
      savedAt = result.data.saved_at;
      P.show(byId("draft-status"), "Draft saved " + new Date(result.data.saved_at).toLocaleTimeString());
      return true;
    });
  }

  // ---- Publishing ----------------------------------------------------------------------

  function publish(event) {
    event.preventDefault();
    var note = byId("publish-note").value.trim();
    var shown = byId("publish-result");
    saveDraft().then(function (saved) {
      if (!saved) return;
      return P.api("POST", "/script/publish", { note: note, draft_saved_at: savedAt }).then(function (result) {
        if (result.status === 422) {
          showProblems({ problems: result.data.problems, publishable: false, languages: [] });
          P.show(shown, result.data.message);
          return;
        }
        if (!result.ok) { P.show(shown, P.errorText(result)); return; }
        var version = result.data;
        P.show(shown, version.status === "pending"
          ? "Version " + version.number + " waits for a second administrator's approval."
          : "Version " + version.number + " is live. Conversations already running finish on the version they started with.");
        byId("publish-note").value = "";
        loadOverview();
        loadVersions();
      });
    });
  }

  // ---- The simulator -------------------------------------------------------------------

  function simulate(payload) {
    payload.source = source.value;
    payload.language = byId("sim-language").value || null;
    payload.channel = byId("sim-channel").value;
    payload.session = payload.action === "start" ? null : session;
    return P.api("POST", "/script/simulate", payload).then(function (result) {
      if (!result.ok) {
        line("note", P.errorText(result));
        if (result.status === 409) session = null;
        return;
      }
      session = result.data.session;
      result.data.said.forEach(function (said) { line(said.kind, said.text, said.options); });
      byId("sim-where").textContent = result.data.where.join(" ");
    });
  }

  function startSimulation() {
    byId("sim-transcript").textContent = "";
    return simulate({ action: "start" });
  }

  function sendText(event) {
    event.preventDefault();
    var input = byId("sim-text");
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    if (!session) { startSimulation().then(function () { sendAs(text); }); return; }
    sendAs(text);
  }

  function sendAs(text) {
    line("person", text);
    simulate({ action: "text", text: text });
  }

  // ---- Versions ------------------------------------------------------------------------

  function loadOverview() {
    return P.api("GET", "/script").then(function (result) {
      if (!result.ok) { P.banner(P.errorText(result)); return; }
      var data = result.data;
      approvalRequired = data.approval_required;
      var live = data.live;
      byId("live-version").textContent = live
        ? "Live: version " + live.number + " (" + live.note + "), published by " + live.author + "."
        : "No version published yet.";
      if (approvalRequired) {
        byId("live-version").textContent += " Each new version needs a second administrator's approval.";
      }
      if (!source.value) {
        source.value = data.draft.source;
        highlight();
        P.show(byId("draft-status"), data.draft.saved
          ? "Draft saved by " + data.draft.updated_by + " " + new Date(data.draft.updated_at).toLocaleString()
          : "Not saved yet: this is the live version's text.");
        check().then(startSimulation);
      }
    });
  }

  function loadVersions() {
    return P.api("GET", "/script/versions").then(function (result) {
      if (!result.ok) return;
      var list = byId("versions");
      list.textContent = "";
      result.data.forEach(function (version) { list.appendChild(versionItem(version)); });
    });
  }

  function versionItem(version) {
    var item = P.element("li");
    item.appendChild(P.element("span", "number", "Version " + version.number));
    item.appendChild(P.element("span", null, version.note));
    var when = version.published_at || version.created_at;
    item.appendChild(P.element("span", "hint", version.author + ", " + new Date(when).toLocaleString()
      + (version.approved_by ? ", approved by " + version.approved_by : "")));
    if (version.status === "pending") item.appendChild(P.element("span", "pending", "Waiting for approval"));
    item.appendChild(button("Show changes", function () { showDiff(version.number); }));
    if (version.status === "pending") {
      item.appendChild(button("Approve", function () { approve(version.number); }));
    } else {
      item.appendChild(button("Roll back to this", function () { rollback(version.number); }));
    }
    return item;
  }

  function button(label, onClick) {
    var node = P.element("button", "quiet", label);
    node.type = "button";
    node.addEventListener("click", onClick);
    return node;
  }

  function showDiff(number) {
    P.api("GET", "/script/versions/" + number).then(function (result) {
      if (!result.ok) { P.banner(P.errorText(result)); return; }
      byId("diff-heading").textContent = "Changes in version " + number;
      var pre = byId("diff");
      pre.textContent = "";
      (result.data.diff || "(no changes)").split("\n").forEach(function (text) {
        var kind = text.charAt(0) === "+" && text.indexOf("+++") !== 0 ? "added"
          : text.charAt(0) === "-" && text.indexOf("---") !== 0 ? "removed" : null;
        pre.appendChild(P.element("span", kind, text + "\n"));
      });
      byId("diff-panel").hidden = false;
    });
  }

  function rollback(number) {
    if (!window.confirm("Publish version " + number + "'s text again as a new version?")) return;
    P.api("POST", "/script/versions/" + number + "/rollback", {}).then(function (result) {
      if (!result.ok) { P.banner(P.errorText(result)); return; }
      P.banner("Version " + result.data.number + " restores version " + number
        + (result.data.status === "pending" ? ": waiting for approval." : " and is live."));
      loadOverview();
      loadVersions();
    });
  }

  function approve(number) {
    P.api("POST", "/script/versions/" + number + "/approve").then(function (result) {
      if (!result.ok) { P.banner(P.errorText(result)); return; }
      P.banner("Version " + number + " is live.");
      loadOverview();
      loadVersions();
    });
  }

  // ---- Start ---------------------------------------------------------------------------

  source.addEventListener("scroll", syncScroll);
  source.addEventListener("input", highlightSoon);
  source.addEventListener("input", function () {
    window.clearTimeout(checkTimer);
    checkTimer = window.setTimeout(check, CHECK_DELAY_MS);
    P.show(byId("publish-result"), ""); // about the text before this edit
    // The simulation goes on with the edited text; if its place is gone, the server says so.
  });
  byId("save-draft").addEventListener("click", saveDraft);
  byId("publish-form").addEventListener("submit", publish);
  byId("sim-form").addEventListener("submit", sendText);
  byId("sim-start").addEventListener("click", startSimulation);
  byId("sim-language").addEventListener("change", startSimulation);
  byId("sim-channel").addEventListener("change", startSimulation);
  byId("sim-timeout").addEventListener("click", function () {
    line("note", "(time passes until the question times out)");
    simulate({ action: "timeout" });
  });
  byId("sim-wait").addEventListener("click", function () {
    var minutes = Number(byId("sim-minutes").value);
    line("note", "(" + minutes + " minutes pass)");
    simulate({ action: "wait", minutes: minutes });
  });
  loadOverview();
  loadVersions();
})();
