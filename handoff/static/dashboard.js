// The advocates' dashboard. Plain JavaScript, no build step and no libraries, so what is
// served is what is reviewed. Pages are rendered by the server; this script fills them from
// the JSON API (/api/v1) and keeps them live through the events websocket.
//
// Two rules shape it. Events carry no content, so whatever is shown is fetched through the
// API, which checks who may see it and writes the audit log. And notifications say only
// "1 conversation waiting (high priority)": a screen glanced at by someone else, or a
// notification on a locked laptop, reveals nothing about anyone.
(function () {
  "use strict";

  var HEARTBEAT_MS = 30000;
  var RECONNECT_MS = 3000;
  var body = document.body;
  var page = body.getAttribute("data-page");

  // ---- Talking to the server ------------------------------------------------------------

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function api(method, path, payload) {
    var options = { method: method, headers: { "X-CSRF-Token": csrfToken() },
                    credentials: "same-origin" };
    if (payload !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(payload);
    }
    return fetch("/api/v1" + path, options).then(function (response) {
      if (response.status === 401 && page !== "login") {
        window.location.replace("/dashboard/login");
      }
      if (response.status === 204) return { ok: true, status: 204, data: null };
      return response.json().then(
        function (data) { return { ok: response.ok, status: response.status, data: data }; },
        function () { return { ok: response.ok, status: response.status, data: null }; }
      );
    });
  }

  function errorText(result) {
    if (result.data && result.data.message) return result.data.message;
    return "Something went wrong (" + result.status + "). Please try again.";
  }

  function byId(id) { return document.getElementById(id); }

  function show(element, text) {
    element.textContent = text;
    element.hidden = !text;
  }

  function banner(text) { show(byId("banner"), text); }

  function minutesSince(iso) {
    var minutes = Math.floor((Date.now() - Date.parse(iso)) / 60000);
    return minutes < 1 ? "just now" : minutes + " min";
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text; // never innerHTML: text is text
    return node;
  }

  // ---- Notifications: generic words only ------------------------------------------------

  var baseTitle = document.title;

  function notify(text) {
    document.title = "(" + text + ") " + baseTitle;
    beep();
    if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
      try { new Notification("Porchlight", { body: text, silent: true }); } catch (e) { /* ok */ }
    }
  }

  function beep() {
    try {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return;
      var audio = new Context();
      var tone = audio.createOscillator();
      var gain = audio.createGain();
      tone.frequency.value = 660;
      gain.gain.value = 0.08;
      tone.connect(gain);
      gain.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.18);
    } catch (e) { /* sound is a courtesy */ }
  }

  window.addEventListener("focus", function () { document.title = baseTitle; });

  // ---- Live events ----------------------------------------------------------------------

  var handlers = [];
  var heartbeat = null;

  function onEvent(handler) { handlers.push(handler); }

  function connectEvents() {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    var socket = new WebSocket(scheme + "//" + window.location.host + "/api/v1/events");
    socket.addEventListener("open", function () {
      banner("");
      heartbeat = window.setInterval(function () {
        if (socket.readyState === WebSocket.OPEN) socket.send('{"type":"heartbeat"}');
      }, HEARTBEAT_MS);
    });
    socket.addEventListener("message", function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (event.type === "offer" || event.type === "escalated") notify(event.text);
      if (event.type === "availability") setAvailableLabel(event.available);
      handlers.forEach(function (handler) { handler(event); });
    });
    socket.addEventListener("close", function () {
      window.clearInterval(heartbeat);
      banner("Reconnecting… (you are not being offered conversations until this clears)");
      window.setTimeout(connectEvents, RECONNECT_MS);
    });
  }

  // ---- The header: availability and signing out ------------------------------------------

  function setAvailableLabel(available) {
    var box = byId("available");
    if (!box) return;
    box.checked = available;
    byId("available-label").textContent = available ? "Available" : "Unavailable";
  }

  function setUpHeader() {
    var box = byId("available");
    if (box) {
      box.addEventListener("change", function () {
        if (box.checked && "Notification" in window && Notification.permission === "default") {
          Notification.requestPermission();
        }
        api("PUT", "/me/availability", { available: box.checked }).then(function (result) {
          if (!result.ok) { banner(errorText(result)); setAvailableLabel(!box.checked); return; }
          setAvailableLabel(result.data.available);
        });
      });
    }
    var signOut = byId("sign-out");
    if (signOut) {
      signOut.addEventListener("click", function () {
        api("DELETE", "/session").then(function () {
          window.location.replace("/dashboard/login");
        });
      });
    }
  }

  // ---- Sign-in pages ----------------------------------------------------------------------

  function loginPage() {
    var form = byId("login");
    var error = byId("login-error");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      show(error, "");
      var payload = { username: byId("username").value.trim(), password: byId("password").value };
      var code = byId("totp").value.trim();
      if (code) payload.totp = code;
      api("POST", "/session", payload).then(function (result) {
        if (result.ok) {
          var user = result.data.user;
          window.location.replace(
            user.totp_enrolment_required ? "/dashboard/two-factor" : "/dashboard");
        } else if (result.data && result.data.error === "totp_required") {
          byId("totp-field").hidden = false;
          byId("totp").focus();
        } else {
          show(error, errorText(result));
        }
      });
    });
  }

  function twoFactorPage() {
    api("POST", "/me/totp").then(function (result) {
      if (!result.ok) { show(byId("totp-error"), errorText(result)); return; }
      var svg = new DOMParser().parseFromString(result.data.qr_svg, "image/svg+xml");
      byId("qr").appendChild(document.importNode(svg.documentElement, true));
      byId("secret").textContent = result.data.secret;
    });
    byId("confirm-totp").addEventListener("submit", function (event) {
      event.preventDefault();
      api("POST", "/me/totp/confirm", { code: byId("code").value.trim() }).then(function (result) {
        if (result.ok) window.location.replace("/dashboard");
        else show(byId("totp-error"), errorText(result));
      });
    });
  }

  // ---- The queue --------------------------------------------------------------------------

  var ENDED_WORDS = { left: "Contact left", closed: "Closed", unanswered: "Not answered" };

  function handoffItem(handoff) {
    var item = element("li", "handoff " + handoff.priority + (handoff.offered_to_me ? " offered" : ""));
    item.setAttribute("data-id", handoff.id);
    if (handoff.priority === "high") item.appendChild(element("span", "badge", "High priority"));
    item.appendChild(element("strong", "alias", handoff.alias));
    item.appendChild(element("span", "channel", handoff.channel));
    if (handoff.status === "waiting") {
      item.appendChild(element("span", "waited", "waiting " + minutesSince(handoff.waiting_since)));
      if (handoff.offered_to_me) item.appendChild(element("span", "badge offer", "Offered to you"));
      var claim = element("button", "primary", "Claim");
      claim.type = "button";
      claim.addEventListener("click", function () { claimHandoff(handoff.id, claim); });
      item.appendChild(claim);
    } else if (handoff.status === "claimed") {
      var open = element("a", "button", handoff.mine ? "Open" : "View");
      open.href = "/dashboard/handoffs/" + encodeURIComponent(handoff.id);
      item.appendChild(open);
    } else {
      item.appendChild(element("span", "ended " + handoff.status,
                               ENDED_WORDS[handoff.status] || handoff.status));
    }
    return item;
  }

  function claimHandoff(id, button) {
    button.disabled = true;
    api("POST", "/handoffs/" + encodeURIComponent(id) + "/claim").then(function (result) {
      if (result.ok) {
        window.location.assign("/dashboard/handoffs/" + encodeURIComponent(id));
      } else {
        banner(errorText(result));
        refreshQueue();
      }
    });
  }

  function fill(listId, emptyId, handoffs) {
    var list = byId(listId);
    list.textContent = "";
    handoffs.forEach(function (handoff) { list.appendChild(handoffItem(handoff)); });
    if (emptyId) byId(emptyId).hidden = handoffs.length > 0;
  }

  var lastWaiting = null;
  var queueAsked = 0;
  var queueShown = 0;

  function refreshQueue() {
    var asked = ++queueAsked;
    return api("GET", "/handoffs").then(function (result) {
      // An older answer arriving after a newer one would bring back someone who has left.
      if (asked < queueShown) return;
      queueShown = asked;
      if (!result.ok) { banner(errorText(result)); return; }
      var waiting = result.data.filter(function (h) { return h.status === "waiting"; });
      var held = result.data.filter(function (h) { return h.status === "claimed"; });
      var ended = result.data.filter(function (h) {
        return h.status !== "waiting" && h.status !== "claimed";
      });
      fill("waiting", "waiting-empty", waiting);
      fill("mine", "mine-empty", held);
      fill("ended", null, ended);
      byId("waiting-count").textContent = String(waiting.length);
      lastWaiting = waiting.length;
    });
  }

  function queuePage() {
    refreshQueue();
    window.setInterval(refreshQueue, 30000); // keeps "waiting N min" honest
    onEvent(function (event) {
      if (event.type === "queue" && lastWaiting !== null && event.waiting > lastWaiting) {
        notify(event.text);
      }
      if (["queue", "contact_left", "transferred", "offer", "message"].indexOf(event.type) !== -1) {
        refreshQueue();
      }
    });
  }

  // ---- One conversation -------------------------------------------------------------------

  var SENDERS = { person: "Contact", bot: "Bot", advocate: "You" };

  function conversationPage() {
    var id = body.getAttribute("data-handoff");
    var base = "/handoffs/" + encodeURIComponent(id);
    var lastSeq = 0;
    var open = true;
    var composer = byId("composer");
    var reply = byId("reply");
    var sendError = byId("send-error");

    function addMessage(message) {
      // Two fetches of what is new can overlap (a send's own and a "message" event's) and
      // both answer with the same messages: show each once, by its place in the transcript.
      if (message.seq <= lastSeq) return;
      var item = element("li", "message " + message.from);
      item.appendChild(element("span", "from", SENDERS[message.from] || message.from));
      item.appendChild(element("p", "text", message.text));
      byId("transcript").appendChild(item);
      item.scrollIntoView({ block: "end" });
      lastSeq = Math.max(lastSeq, message.seq);
    }

    function contactLeft(status) {
      open = false;
      byId("left-banner").hidden = false;
      byId("left-banner").textContent = status === "closed"
        ? "This conversation is closed." : "Contact left. Nothing more can be sent.";
      Array.prototype.forEach.call(document.querySelectorAll("form button, form textarea, form select"),
        function (control) { control.disabled = true; });
    }

    function loadMessages() {
      return api("GET", base + "/messages?after=" + lastSeq).then(function (result) {
        if (!result.ok) { show(sendError, errorText(result)); return; }
        result.data.messages.forEach(addMessage);
        if (result.data.status !== "claimed" && result.data.status !== "waiting") {
          contactLeft(result.data.status);
        }
      });
    }

    function loadNotes() {
      api("GET", base + "/notes").then(function (result) {
        if (!result.ok) return;
        var list = byId("notes");
        list.textContent = "";
        result.data.forEach(function (note) {
          var item = element("li", "note " + note.kind);
          item.appendChild(element("span", "from",
            (note.kind === "transfer" ? "Transfer note from " : "") + (note.author || "someone")));
          item.appendChild(element("p", "text", note.text));
          list.appendChild(item);
        });
      });
    }

    api("GET", base).then(function (result) {
      if (!result.ok) { show(sendError, errorText(result)); return; }
      var handoff = result.data;
      byId("alias").textContent = handoff.alias;
      byId("status").textContent = handoff.priority === "high" ? "High priority" : "";
      var summary = byId("summary");
      var rows = [];
      if (handoff.summary) {
        rows.push(["Channel", handoff.channel]);
        rows.push(["Language", handoff.summary.language || "default"]);
        if (handoff.summary.flags.length) rows.push(["Flags", handoff.summary.flags.join(", ")]);
        rows.push(["Safe to write", handoff.summary.safe_window || "not asked (live chat)"]);
        Object.keys(handoff.summary.answers).forEach(function (key) {
          rows.push([key.replace(/_/g, " "), handoff.summary.answers[key]]);
        });
      }
      rows.forEach(function (row) {
        summary.appendChild(element("dt", "", row[0]));
        summary.appendChild(element("dd", "", row[1]));
      });
      var language = handoff.summary && handoff.summary.language ? handoff.summary.language : "en";
      api("GET", "/canned-responses?language=" + encodeURIComponent(language)).then(function (canned) {
        if (!canned.ok) return;
        canned.data.forEach(function (entry) {
          var option = element("option", "", entry.title);
          option.value = entry.body;
          byId("canned").appendChild(option);
        });
      });
      loadMessages();
      loadNotes();
    });

    api("GET", "/outcomes").then(function (result) {
      if (!result.ok) return;
      result.data.forEach(function (outcome) {
        var option = element("option", "", outcome.replace(/_/g, " "));
        option.value = outcome;
        byId("outcome").appendChild(option);
      });
    });

    api("GET", "/advocates").then(function (result) {
      if (!result.ok) return;
      var select = byId("transfer-to");
      var me = body.getAttribute("data-user");
      result.data.forEach(function (person) {
        if (!person.available || person.id === me) return;
        var option = element("option", "", person.username);
        option.value = person.id;
        select.appendChild(option);
      });
      if (!select.options.length) {
        var nobody = element("option", "", "Nobody else is available");
        nobody.value = "";
        select.appendChild(nobody);
      }
    });

    byId("canned").addEventListener("change", function (event) {
      if (!event.target.value) return;
      reply.value = reply.value ? reply.value + "\n" + event.target.value : event.target.value;
      event.target.value = "";
      reply.focus();
    });

    composer.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = reply.value.trim();
      if (!text || !open) return;
      show(sendError, "");
      api("POST", base + "/messages", { text: text }).then(function (result) {
        if (result.ok) {
          reply.value = "";
          loadMessages();
        } else {
          show(sendError, errorText(result));
          if (result.status === 410) contactLeft("left");
        }
      });
    });

    // Enter sends, Shift+Enter makes a new line: quick at 2 a.m., still able to write paragraphs.
    reply.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        composer.requestSubmit();
      }
    });

    byId("note-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var text = byId("note").value.trim();
      if (!text) return;
      api("POST", base + "/notes", { text: text }).then(function (result) {
        if (result.ok) { byId("note").value = ""; loadNotes(); } else banner(errorText(result));
      });
    });

    byId("transfer-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var payload = { to: byId("transfer-to").value, note: byId("transfer-note").value };
      api("POST", base + "/transfer", payload).then(function (result) {
        if (result.ok) window.location.assign("/dashboard"); else banner(errorText(result));
      });
    });

    byId("close-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var payload = { outcome: byId("outcome").value };
      var farewell = byId("farewell").value.trim();
      if (farewell) payload.message = farewell;
      api("POST", base + "/close", payload).then(function (result) {
        if (result.ok) window.location.assign("/dashboard"); else banner(errorText(result));
      });
    });

    onEvent(function (event) {
      if (event.handoff_id !== id) return;
      if (event.type === "message") loadMessages();
      if (event.type === "contact_left") { contactLeft("left"); notify("Contact left"); }
    });
  }

  // The administration pages' scripts (admin.js, editor.js, statistics.js) use these too.
  window.Porchlight = {
    api: api, errorText: errorText, byId: byId, show: show, banner: banner, element: element
  };

  // ---- Start ------------------------------------------------------------------------------

  if (page === "login") {
    loginPage();
  } else if (page === "two-factor") {
    setUpHeader();
    twoFactorPage();
  } else {
    setUpHeader();
    connectEvents();
    if (page === "queue") queuePage();
    if (page === "conversation") conversationPage();
  }
})();
