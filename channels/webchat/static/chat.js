// The web chat page. Written for someone whose device may be checked by the person harming
// them, possibly at night on a monitored phone:
//
// - The transcript exists only in this page's DOM. Nothing is written to cookies,
//   localStorage, sessionStorage, IndexedDB, Cache Storage, service workers or history
//   (no pushState): each of those survives closing the tab, and a stored transcript is a
//   transcript someone else can find. Reloading therefore starts a new conversation.
// - Leaving is instant: the Exit button, three taps of Shift, or typing EXIT hide the page
//   and replace it with a neutral one.
// - Text never goes into a URL: the form is never submitted, everything goes over the
//   websocket.
//
// Plain ES5-style JavaScript with no build step and no libraries, so what is served is what
// is reviewed.
(function () {
  "use strict";

  var SOCKET_PATH = "/channels/webchat/ws";
  var SHIFT_TAPS_TO_EXIT = 3;
  var SHIFT_WINDOW_MS = 5000;
  // Typed on their own, these leave at once without waiting for the server (which wipes the
  // conversation for them too). They mirror the shipped script's quick-exit keywords; for any
  // other wiping keyword the server tells the page to leave with an "exit" frame.
  var EXIT_WORDS = ["EXIT", "SALIR"];
  var TRIM = /^[\s.!?¡¿,;:'"()[\]]+|[\s.!?¡¿,;:'"()[\]]+$/g;

  var body = document.body;
  var exitUrl = safeExitUrl(body.getAttribute("data-exit-url"));
  var chat = document.getElementById("chat");
  var transcript = document.getElementById("transcript");
  var form = document.getElementById("composer");
  var input = document.getElementById("message");
  var sendButton = document.getElementById("send");
  var exitButton = document.getElementById("exit");

  var socket = null;
  var leaving = false; // quick exit under way: nothing else may happen
  var ended = false; // the server closed the chat, or the connection dropped

  // Only http(s) destinations: a misconfigured javascript: or data: URL must never run in
  // this page. An empty page is a safe place to land if the setting is missing or wrong.
  function safeExitUrl(raw) {
    if (raw) {
      try {
        var url = new URL(raw, window.location.href);
        if (url.protocol === "https:" || url.protocol === "http:") return url.href;
      } catch (e) { /* fall through */ }
    }
    return "about:blank";
  }

  // ---- Quick exit ---------------------------------------------------------------------

  function forgetConversation() {
    transcript.textContent = "";
    input.value = "";
    shiftTaps = [];
  }

  function quickExit() {
    if (leaving) return;
    leaving = true;
    // Hide first: whatever happens next, the next frame painted shows nothing of the chat.
    body.hidden = true;
    forgetConversation();
    // Fire and forget: the server wipes the conversation when this arrives. Waiting for an
    // answer would keep the chat on screen for a round trip.
    if (socket && socket.readyState === WebSocket.OPEN) {
      try { socket.send(JSON.stringify({ type: "exit" })); } catch (e) { /* leaving anyway */ }
    }
    // replace(), not assign() or a link: the chat's history entry is overwritten by the
    // neutral page, so pressing Back does not lead back to the chat.
    window.location.replace(exitUrl);
  }

  exitButton.addEventListener("click", quickExit);

  // Shift tapped three times within five seconds leaves, like GOV.UK's "Exit this page".
  // Other keys between the taps are fine, so it works while typing. A tap is Shift pressed
  // and released with no other key in between: Shift held for a capital letter or for
  // Shift+Tab does not count, or typing "I Am Scared" or tabbing backwards through the page
  // would throw the person out and lose the conversation they wanted.
  var shiftHeld = false;
  var shiftChorded = false;
  var shiftTaps = [];

  window.addEventListener("keydown", function (event) {
    if (event.key === "Shift") {
      if (!event.repeat) {
        shiftHeld = true;
        shiftChorded = false;
      }
    } else if (shiftHeld) {
      shiftChorded = true;
    }
  }, true);

  window.addEventListener("keyup", function (event) {
    if (event.key !== "Shift") return;
    var tapped = shiftHeld && !shiftChorded;
    shiftHeld = false;
    if (!tapped) return;
    var now = performance.now();
    shiftTaps = shiftTaps.filter(function (t) { return now - t <= SHIFT_WINDOW_MS; });
    shiftTaps.push(now);
    if (shiftTaps.length >= SHIFT_TAPS_TO_EXIT) quickExit();
  }, true);

  // The keyup may never come if focus leaves the window with Shift held.
  window.addEventListener("blur", function () { shiftHeld = false; });

  // Leaving the page any other way (closing the tab, reloading) drops the transcript too, in
  // case the browser keeps the page in its back/forward cache.
  window.addEventListener("pagehide", forgetConversation);
  window.addEventListener("pageshow", function (event) {
    // Restored from that cache: the old conversation is over (its socket is gone), so load
    // a fresh page instead of showing a dead one.
    if (event.persisted) {
      body.hidden = true;
      window.location.replace(window.location.pathname);
    }
  });

  // ---- Rendering ----------------------------------------------------------------------

  function scrollToEnd() {
    chat.scrollTop = chat.scrollHeight;
  }

  function addBubble(text, who) {
    var bubble = document.createElement("div");
    bubble.className = "bubble " + who;
    bubble.textContent = text; // never innerHTML: messages are text, not markup
    transcript.appendChild(bubble);
    scrollToEnd();
  }

  function disableOpenOptions() {
    var buttons = transcript.querySelectorAll(".options button:not([disabled])");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
  }

  function usesTouch() {
    return window.matchMedia("(pointer: coarse)").matches;
  }

  function addOptions(options) {
    disableOpenOptions(); // only the newest question can be answered
    var group = document.createElement("div");
    group.className = "options";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Choices");
    options.forEach(function (option) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = option.label;
      button.addEventListener("click", function (event) {
        if (!send({ type: "choice", value: option.value })) return;
        addBubble(option.label, "me");
        button.classList.add("chosen");
        disableOpenOptions();
        // The pressed button is now disabled, so focus must go somewhere: the text box (the
        // next question's buttons are one Shift+Tab away). Not on touch screens, where that
        // would pop the keyboard up over the answer the person is about to read.
        if (event.detail === 0 || !usesTouch()) input.focus();
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
    var restart = null;
    if (withRestart) {
      restart = document.createElement("button");
      restart.type = "button";
      restart.textContent = "Start again";
      restart.addEventListener("click", startAgain);
      line.appendChild(document.createTextNode(" "));
      line.appendChild(restart);
    }
    transcript.appendChild(line);
    scrollToEnd();
    return restart;
  }

  // One line for the place in line, updated in place as the queue moves, so waiting does
  // not fill the screen with "You are number 3… number 2…".
  var placeInLine = null;

  function showPlaceInLine(text) {
    if (text === null) {
      if (placeInLine) placeInLine.remove();
      placeInLine = null;
      return;
    }
    if (!placeInLine) {
      placeInLine = document.createElement("p");
      placeInLine.className = "system waiting";
      placeInLine.setAttribute("role", "status");
      transcript.appendChild(placeInLine);
    }
    placeInLine.textContent = text;
    scrollToEnd();
  }

  function setComposerEnabled(enabled) {
    input.disabled = !enabled;
    sendButton.disabled = !enabled;
  }

  // The chat is over (closed by the server or the connection dropped). Nothing is resent
  // anywhere: starting again is a fresh page and a fresh, empty conversation.
  function endChat(text) {
    if (ended || leaving) return;
    ended = true;
    var hadFocus = document.activeElement === input || document.activeElement === sendButton;
    disableOpenOptions();
    setComposerEnabled(false);
    var restart = addSystemLine(text, true);
    if (hadFocus) restart.focus(); // the focused text box just became disabled
  }

  function startAgain() {
    forgetConversation();
    window.location.replace(window.location.pathname);
  }

  // ---- Connection ---------------------------------------------------------------------

  function send(frame) {
    if (ended || leaving || !socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function receive(frame) {
    if (leaving || !frame || typeof frame !== "object") return;
    if (frame.type === "message" && typeof frame.text === "string") {
      addBubble(frame.text, frame.from === "advocate" ? "advocate" : "bot");
      if (Array.isArray(frame.options) && frame.options.length) addOptions(frame.options);
    } else if (frame.type === "status" && frame.state === "waiting" &&
               typeof frame.text === "string") {
      showPlaceInLine(frame.text);
    } else if ((frame.type === "status" || frame.type === "error") &&
               typeof frame.text === "string") {
      if (frame.type === "status") showPlaceInLine(null);
      addSystemLine(frame.text, false);
    } else if (frame.type === "closed") {
      endChat("This chat has ended.");
    } else if (frame.type === "exit") {
      // The person typed a keyword that wiped the conversation on the server: leave as if
      // they had pressed Exit, rather than leave the wiped conversation on screen.
      quickExit();
    }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + window.location.host + SOCKET_PATH);

    socket.addEventListener("open", function () {
      send({ type: "start" });
      setComposerEnabled(true);
    });

    socket.addEventListener("message", function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      receive(frame);
    });

    socket.addEventListener("close", function () {
      endChat("Connection lost.");
    });
  }

  function isExitWord(text) {
    return EXIT_WORDS.indexOf(text.replace(TRIM, "").toUpperCase()) !== -1;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault(); // never submit: the text must not end up in a URL or in history
    var text = input.value.trim();
    if (!text) return;
    if (isExitWord(text)) {
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
