// The web chat. Written for someone whose device may be checked by the person harming them:
// the transcript exists only in this page's memory and DOM. Nothing is written to cookies,
// localStorage, sessionStorage, IndexedDB, caches or history, so there is nothing to find.
(function () {
  "use strict";

  var SHIFT_PRESSES = 3;
  var SHIFT_WINDOW_MS = 5000;

  var body = document.body;
  var exitUrl = body.getAttribute("data-exit-url") || "about:blank";
  var transcript = document.getElementById("transcript");
  var form = document.getElementById("composer");
  var input = document.getElementById("message");
  var sendButton = document.getElementById("send");
  var exitButton = document.getElementById("exit");

  var socket = null;
  var leaving = false;
  var ended = false;
  var shiftTimes = [];

  // ---- Quick exit ---------------------------------------------------------------------

  function quickExit() {
    if (leaving) return;
    leaving = true;
    // Hide first: the next paint must not show the conversation, whatever happens after.
    body.hidden = true;
    transcript.textContent = "";
    input.value = "";
    // Fire and forget: the server wipes the conversation; we do not wait for an answer.
    if (socket && socket.readyState === WebSocket.OPEN) {
      try { socket.send(JSON.stringify({ type: "exit" })); } catch (e) { /* leaving anyway */ }
    }
    // replace(), not assign(): the chat's history entry is swapped out, so Back cannot
    // return to it.
    window.location.replace(exitUrl);
  }

  exitButton.addEventListener("click", quickExit);

  // Shift pressed three times within five seconds, like GOV.UK's "Exit this page".
  // Other keys in between are fine, so it also works while typing.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Shift" || event.repeat) return;
    var now = Date.now();
    shiftTimes = shiftTimes.filter(function (t) { return now - t <= SHIFT_WINDOW_MS; });
    shiftTimes.push(now);
    if (shiftTimes.length >= SHIFT_PRESSES) quickExit();
  }, true);

  // If the browser keeps this page in its back/forward cache, keep it empty.
  window.addEventListener("pagehide", function () {
    transcript.textContent = "";
    input.value = "";
  });

  // ---- Rendering ----------------------------------------------------------------------

  function scrollToEnd() {
    var chat = transcript.parentNode;
    chat.scrollTop = chat.scrollHeight;
  }

  function addBubble(text, who) {
    var bubble = document.createElement("div");
    bubble.className = "bubble " + who;
    bubble.textContent = text; // never innerHTML: messages are text, not markup
    transcript.appendChild(bubble);
    scrollToEnd();
    return bubble;
  }

  function disableOpenOptions() {
    var buttons = transcript.querySelectorAll(".options button:not([disabled])");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
  }

  function addOptions(options) {
    var group = document.createElement("div");
    group.className = "options";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Choices");
    options.forEach(function (option) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = option.label;
      button.addEventListener("click", function () {
        if (!send({ type: "choice", value: option.value })) return;
        addBubble(option.label, "me");
        disableOpenOptions();
        input.focus();
      });
      group.appendChild(button);
    });
    transcript.appendChild(group);
    scrollToEnd();
  }

  function addSystemLine(text, withRestart) {
    var line = document.createElement("p");
    line.className = "system";
    line.textContent = text;
    if (withRestart) {
      var restart = document.createElement("button");
      restart.type = "button";
      restart.textContent = "Start again";
      restart.addEventListener("click", startAgain);
      line.appendChild(restart);
    }
    transcript.appendChild(line);
    scrollToEnd();
  }

  function setComposerEnabled(enabled) {
    input.disabled = !enabled;
    sendButton.disabled = !enabled;
  }

  // A fresh page load is a fresh conversation: nothing carries over.
  function startAgain() {
    transcript.textContent = "";
    window.location.replace(window.location.pathname);
  }

  // ---- Connection ---------------------------------------------------------------------

  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN || ended) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + window.location.host + "/channels/webchat/ws");

    socket.addEventListener("open", function () {
      send({ type: "start" });
      setComposerEnabled(true);
    });

    socket.addEventListener("message", function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "message") {
        addBubble(frame.text, "bot");
        if (frame.options && frame.options.length) addOptions(frame.options);
      } else if (frame.type === "status" || frame.type === "error") {
        addSystemLine(frame.text, false);
      } else if (frame.type === "closed") {
        ended = true;
        disableOpenOptions();
        setComposerEnabled(false);
        addSystemLine("This chat has ended.", true);
      }
    });

    socket.addEventListener("close", function () {
      setComposerEnabled(false);
      if (!leaving && !ended) {
        disableOpenOptions();
        addSystemLine("Connection lost.", true);
      }
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault(); // never submit: the text must not end up in a URL or history
    var text = input.value.trim();
    if (!text) return;
    // Typing EXIT leaves exactly like the button: the server would wipe anyway, and the
    // page must not linger showing the conversation.
    if (text.replace(/^[\s.!?,;:'"()\[\]]+|[\s.!?,;:'"()\[\]]+$/g, "").toUpperCase() === "EXIT") {
      quickExit();
      return;
    }
    if (!send({ type: "message", text: text })) return;
    addBubble(text, "me");
    disableOpenOptions();
    input.value = "";
  });

  connect();
})();
