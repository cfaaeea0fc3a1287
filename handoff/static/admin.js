// The administration pages (people and rota, resources, canned responses, settings, audit
// log). Plain JavaScript like dashboard.js, whose helpers it borrows (window.Porchlight).
// The script editor and the statistics have their own files (editor.js, statistics.js).
//
// Everything shown comes from the JSON API and is written with textContent, never as HTML.
// Passwords go to the server and are cleared from the page: nothing shows one afterwards.
(function () {
  "use strict";

  var P = window.Porchlight;
  if (!P) return;
  var api = P.api;
  var errorText = P.errorText;
  var byId = P.byId;
  var show = P.show;
  var element = P.element;
  var body = document.body;
  var page = body.getAttribute("data-page");
  var me = body.getAttribute("data-user");

  // ---- Small helpers ----------------------------------------------------------------------

  var counter = 0;

  function newId(prefix) {
    counter += 1;
    return prefix + "-" + counter;
  }

  // A control with its label; hidden labels still name the control for screen readers.
  function labelled(container, text, control, hidden) {
    if (!control.id) control.id = newId("control");
    var label = element("label", hidden ? "visually-hidden" : "", text);
    label.htmlFor = control.id;
    container.appendChild(label);
    container.appendChild(control);
    return control;
  }

  function button(text, className, onClick) {
    var node = element("button", className, text);
    node.type = "button";
    if (onClick) node.addEventListener("click", onClick);
    return node;
  }

  function option(value, text, selected) {
    var node = element("option", "", text);
    node.value = value;
    if (selected) node.selected = true;
    return node;
  }

  function cell(row, label, content, className) {
    var td = element("td", className || "");
    td.setAttribute("data-label", label); // the column's name when rows stack on a phone
    if (typeof content === "string") td.textContent = content;
    else if (content) td.appendChild(content);
    row.appendChild(td);
    return td;
  }

  function pageError(text) { show(byId("admin-error"), text); }

  // Keeps a button from being pressed twice while its request is on the way.
  function busy(control, promise) {
    if (control) control.disabled = true;
    return promise.then(function (value) {
      if (control) control.disabled = false;
      return value;
    }, function (error) {
      if (control) control.disabled = false;
      throw error;
    });
  }

  function submitter(form) { return form.querySelector("button[type=submit]"); }

  function networkFailed() {
    pageError("The server could not be reached. Check the connection and try again.");
  }

  // A list typed as "a, b; c" or one item a line.
  function splitList(text, separators) {
    return text.split(separators).map(function (item) { return item.trim(); })
      .filter(function (item) { return item; });
  }

  function when(iso, seconds) {
    var options = { weekday: "short", year: "numeric", month: "short", day: "numeric",
                    hour: "2-digit", minute: "2-digit" };
    if (seconds) options.second = "2-digit";
    return new Date(iso).toLocaleString(undefined, options);
  }

  // Re-rendering a table replaces its buttons; this puts the keyboard focus back on the
  // control that stands in the same place, so a keyboard user does not start over.
  function keepFocus(render) {
    var active = document.activeElement;
    var key = active && active.getAttribute ? active.getAttribute("data-focus") : null;
    render();
    if (!key) return;
    var again = document.querySelector('[data-focus="' + key + '"]');
    if (again) again.focus();
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Like Porchlight.api, for a body that is not JSON (a CSV file's text).
  function sendText(method, path, text, contentType) {
    return fetch("/api/v1" + path, {
      method: method,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), "Content-Type": contentType },
      body: text
    }).then(function (response) {
      if (response.status === 401) window.location.replace("/dashboard/login");
      return response.json().then(
        function (data) { return { ok: response.ok, status: response.status, data: data }; },
        function () { return { ok: response.ok, status: response.status, data: null }; }
      );
    });
  }

  // ---- People and rota ----------------------------------------------------------------------

  var WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
  var ROLE_NAMES = { advocate: "Advocate", admin: "Administrator" };

  function peoplePage() {
    var users = [];
    var rotaCards = {}; // user id -> its fieldset, kept across reloads so edits survive
    var status = byId("accounts-status");

    function usernameOf(id) {
      var found = users.filter(function (user) { return user.id === id; })[0];
      return found ? found.username : "(removed)";
    }

    function load(rebuildCardFor) {
      return Promise.all([api("GET", "/users"), api("GET", "/rota")]).then(function (results) {
        var people = results[0];
        var rota = results[1];
        if (!people.ok) { pageError(errorText(people)); return; }
        if (!rota.ok) { pageError(errorText(rota)); return; }
        pageError("");
        users = people.data;
        keepFocus(function () {
          renderAccounts();
          renderNow(rota.data);
          renderRota(rota.data, rebuildCardFor);
          renderOverrides(rota.data);
        });
        renderOverridePeople();
      }, networkFailed);
    }

    function refreshNow() {
      api("GET", "/rota").then(function (rota) { if (rota.ok) renderNow(rota.data); },
                                function () { /* the next refresh will tell */ });
    }

    // -- Right now --

    function names(listId, people) {
      var list = byId(listId);
      list.textContent = "";
      people.forEach(function (name) { list.appendChild(element("li", "", name)); });
      if (!people.length) list.appendChild(element("li", "nobody", "Nobody"));
    }

    function renderNow(rota) {
      names("expected-now", rota.expected_now);
      names("available-now", rota.available_now);
      byId("rota-timezone").textContent = rota.timezone;
    }

    // -- Accounts --

    function change(user, payload, done, errorBox, control) {
      return busy(control, api("PATCH", "/users/" + encodeURIComponent(user.id), payload))
        .then(function (result) {
          if (!result.ok) { show(errorBox, errorText(result)); return false; }
          show(status, done);
          load();
          return true;
        }, networkFailed);
    }

    function passwordForm(user, errorBox, opener) {
      var form = element("form", "inline-form");
      form.noValidate = true;
      form.hidden = true;
      var input = element("input");
      input.type = "password";
      input.autocomplete = "new-password";
      input.setAttribute("data-focus", "password:" + user.id);
      labelled(form, "New temporary password for " + user.username, input);
      var save = element("button", "primary", "Set password");
      save.type = "submit";
      form.appendChild(save);
      form.appendChild(button("Cancel", "", function () {
        input.value = "";
        form.hidden = true;
        opener.setAttribute("aria-expanded", "false");
        opener.focus();
      }));
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        show(errorBox, "");
        if (!input.value) { show(errorBox, "Type the new password first."); input.focus(); return; }
        if (!window.confirm("Set a new temporary password for " + user.username +
                            "? They are signed out everywhere at once.")) return;
        var path = "/users/" + encodeURIComponent(user.id) + "/password";
        busy(save, api("POST", path, { password: input.value })).then(function (result) {
          if (!result.ok) { show(errorBox, errorText(result)); input.focus(); return; }
          input.value = ""; // sent once, never shown or kept
          form.hidden = true;
          show(status, "The temporary password for " + user.username + " is set, and they" +
                       " have been signed out. Give it to them yourself, in person or by phone.");
          load();
        }, networkFailed);
      });
      return form;
    }

    function accountRow(user) {
      var mine = user.id === me;
      var row = element("tr", user.disabled ? "disabled" : "");
      row.setAttribute("data-user", user.username);
      cell(row, "Username", user.username + (mine ? " (you)" : ""));

      var errorBox = element("p", "error");
      errorBox.setAttribute("role", "alert");
      errorBox.hidden = true;

      if (mine) {
        cell(row, "Role", ROLE_NAMES[user.role] || user.role);
      } else {
        var role = element("select");
        role.setAttribute("data-focus", "role:" + user.id);
        Object.keys(ROLE_NAMES).forEach(function (value) {
          role.appendChild(option(value, ROLE_NAMES[value], value === user.role));
        });
        var roleCell = cell(row, "Role", null);
        labelled(roleCell, "Role of " + user.username, role, true);
        role.addEventListener("change", function () {
          show(errorBox, "");
          var name = ROLE_NAMES[role.value].toLowerCase();
          if (!window.confirm("Make " + user.username + " an " + name + "?")) {
            role.value = user.role;
            return;
          }
          change(user, { role: role.value }, user.username + " is now an " + name + ".",
                 errorBox, role).then(function (ok) { if (!ok) role.value = user.role; });
        });
      }
      cell(row, "Account", element("span", user.disabled ? "state-off" : "state-on",
                                   user.disabled ? "Disabled" : "Enabled"));
      cell(row, "Two-factor", user.totp_enrolled ? "Set up" : "Not set up");
      cell(row, "Available now", user.available ? "Yes" : "No");

      var actions = element("div", "cell-actions");
      if (mine) {
        actions.appendChild(element("span", "muted", "Another administrator changes your account."));
      } else {
        var toggle;
        if (user.disabled) {
          toggle = button("Enable", "", function () {
            show(errorBox, "");
            change(user, { disabled: false }, user.username + " is enabled again.", errorBox, toggle);
          });
        } else {
          toggle = button("Disable", "danger", function () {
            show(errorBox, "");
            if (!window.confirm("Disable " + user.username + "? They are signed out at once, " +
                                "taken off call, and any conversation they hold goes back " +
                                "to the queue.")) return;
            change(user, { disabled: true }, user.username + " is disabled.", errorBox, toggle);
          });
        }
        toggle.setAttribute("data-focus", "account:" + user.id);
        toggle.setAttribute("aria-label", toggle.textContent + " " + user.username);
        actions.appendChild(toggle);

        var opener = button("Set temporary password", "", null);
        opener.setAttribute("aria-expanded", "false");
        opener.setAttribute("data-focus", "opener:" + user.id);
        var form = passwordForm(user, errorBox, opener);
        opener.addEventListener("click", function () {
          form.hidden = !form.hidden;
          opener.setAttribute("aria-expanded", String(!form.hidden));
          if (!form.hidden) form.querySelector("input").focus();
        });
        actions.appendChild(opener);

        if (user.totp_enrolled) {
          var reset = button("Reset two-factor", "danger", function () {
            show(errorBox, "");
            if (!window.confirm("Reset two-factor for " + user.username + "? They are signed " +
                                "out and set it up again at their next sign-in.")) return;
            var path = "/users/" + encodeURIComponent(user.id) + "/totp";
            busy(reset, api("DELETE", path)).then(function (result) {
              if (!result.ok) { show(errorBox, errorText(result)); return; }
              show(status, "Two-factor for " + user.username + " is reset.");
              load();
            }, networkFailed);
          });
          reset.setAttribute("data-focus", "totp:" + user.id);
          actions.appendChild(reset);
        }
        actions.appendChild(form);
      }
      actions.appendChild(errorBox);
      cell(row, "Actions", actions);
      return row;
    }

    function renderAccounts() {
      var tbody = byId("accounts").querySelector("tbody");
      tbody.textContent = "";
      users.forEach(function (user) { tbody.appendChild(accountRow(user)); });
    }

    byId("new-user").addEventListener("submit", function (event) {
      event.preventDefault();
      var errorBox = byId("new-user-error");
      show(errorBox, "");
      var username = byId("new-username");
      var password = byId("new-password");
      if (!username.value.trim()) { show(errorBox, "Type a username."); username.focus(); return; }
      if (!password.value) {
        show(errorBox, "Type a temporary password.");
        password.focus();
        return;
      }
      var payload = { username: username.value.trim(), role: byId("new-role").value,
                      password: password.value };
      busy(submitter(event.target), api("POST", "/users", payload)).then(function (result) {
        if (!result.ok) { show(errorBox, errorText(result)); return; }
        username.value = "";
        password.value = "";
        show(status, "Account " + result.data.username + " created (" +
                     (ROLE_NAMES[result.data.role] || result.data.role).toLowerCase() + ").");
        load();
      }, networkFailed);
    });

    // -- Weekly rota --

    function shiftRow(list, shift) {
      var item = element("li", "shift");
      var number = list.children.length + 1;
      var day = element("select");
      WEEKDAYS.forEach(function (name, index) {
        day.appendChild(option(String(index), name, shift && shift.weekday === index));
      });
      var dayBox = element("div", "weekday");
      labelled(dayBox, "Day", day);
      day.setAttribute("aria-label", "Day of shift " + number);
      item.appendChild(dayBox);
      [["start", "From"], ["end", "Until"]].forEach(function (pair) {
        var input = element("input", pair[0]);
        input.inputMode = "numeric";
        input.placeholder = "HH:MM";
        input.autocomplete = "off";
        input.value = shift ? shift[pair[0]] : "";
        input.setAttribute("aria-label", pair[1] + ", shift " + number);
        var box = element("div");
        labelled(box, pair[1], input);
        item.appendChild(box);
      });
      var remove = button("Remove", "", function () {
        item.remove();
        list.dispatchEvent(new Event("shifts-changed"));
      });
      remove.setAttribute("aria-label", "Remove shift " + number);
      item.appendChild(remove);
      list.appendChild(item);
      return item;
    }

    function rotaCard(user, shifts) {
      var fieldset = element("fieldset");
      fieldset.setAttribute("data-user", user.username);
      var legend = element("legend", "", user.username);
      fieldset.appendChild(legend);
      var list = element("ul", "shifts");
      var none = element("p", "empty", "No shifts.");
      function updateEmpty() { none.hidden = list.children.length > 0; }
      list.addEventListener("shifts-changed", updateEmpty);
      fieldset.appendChild(list);
      fieldset.appendChild(none);
      shifts.forEach(function (shift) { shiftRow(list, shift); });
      updateEmpty();
      var errorBox = element("p", "error");
      errorBox.setAttribute("role", "alert");
      errorBox.hidden = true;
      var done = element("p", "done");
      done.setAttribute("role", "status");
      done.hidden = true;
      var actions = element("div", "actions");
      actions.appendChild(button("Add shift", "", function () {
        var item = shiftRow(list, null);
        updateEmpty();
        item.querySelector("select").focus();
      }));
      var save = button("Save shifts", "primary", function () {
        show(errorBox, "");
        show(done, "");
        var payload = Array.prototype.map.call(list.children, function (item) {
          return { weekday: Number(item.querySelector("select").value),
                   start: item.querySelector("input.start").value.trim(),
                   end: item.querySelector("input.end").value.trim() };
        });
        var path = "/rota/" + encodeURIComponent(user.id);
        busy(save, api("PUT", path, { shifts: payload })).then(function (result) {
          if (!result.ok) { show(errorBox, errorText(result)); return; }
          load(user.id).then(function () {
            var card = rotaCards[user.id];
            var message = card.querySelector("p.done");
            show(message, "Saved " + result.data.shifts + " shift" +
                          (result.data.shifts === 1 ? "" : "s") + " for " + user.username + ".");
            card.querySelector("button.primary").focus();
          });
        }, networkFailed);
      });
      save.setAttribute("aria-label", "Save shifts for " + user.username);
      actions.appendChild(save);
      fieldset.appendChild(errorBox);
      fieldset.appendChild(done);
      fieldset.appendChild(actions);
      return fieldset;
    }

    function renderRota(rota, rebuildFor) {
      var container = byId("rota");
      var byUser = {};
      rota.shifts.forEach(function (shift) {
        (byUser[shift.user_id] = byUser[shift.user_id] || []).push(shift);
      });
      var shown = {};
      var position = 0;
      users.forEach(function (user) {
        if (user.disabled && !byUser[user.id]) return;
        shown[user.id] = true;
        var card = rotaCards[user.id];
        if (!card || user.id === rebuildFor) {
          card = rotaCard(user, byUser[user.id] || []);
          if (rotaCards[user.id]) rotaCards[user.id].replaceWith(card);
          rotaCards[user.id] = card;
        }
        card.querySelector("legend").textContent =
          user.username + (user.disabled ? " (disabled)" : "");
        // In username order, moving a kept card only when it must (a move drops focus).
        if (container.children[position] !== card) {
          container.insertBefore(card, container.children[position] || null);
        }
        position += 1;
      });
      Object.keys(rotaCards).forEach(function (id) {
        if (!shown[id]) { rotaCards[id].remove(); delete rotaCards[id]; }
      });
    }

    // -- One-off changes --

    function renderOverrides(rota) {
      var tbody = byId("overrides").querySelector("tbody");
      tbody.textContent = "";
      rota.overrides.forEach(function (override) {
        var row = element("tr");
        cell(row, "Person", override.username);
        cell(row, "From", when(override.starts_at));
        cell(row, "Until", when(override.ends_at));
        cell(row, "Change", override.on_call ? "On call" : "Off call");
        var errorBox = element("p", "error");
        errorBox.setAttribute("role", "alert");
        errorBox.hidden = true;
        var actions = element("div", "cell-actions");
        var remove = button("Remove", "danger", function () {
          if (!window.confirm("Remove this change for " + override.username + "?")) return;
          var path = "/rota/overrides/" + encodeURIComponent(override.id);
          busy(remove, api("DELETE", path)).then(function (result) {
            if (!result.ok) { show(errorBox, errorText(result)); return; }
            load();
          }, networkFailed);
        });
        remove.setAttribute("aria-label", "Remove the change for " + override.username +
                                          " from " + when(override.starts_at));
        actions.appendChild(remove);
        actions.appendChild(errorBox);
        cell(row, "Actions", actions);
        tbody.appendChild(row);
      });
      byId("overrides").hidden = !rota.overrides.length;
      byId("overrides-empty").hidden = rota.overrides.length > 0;
    }

    function renderOverridePeople() {
      var select = byId("override-user");
      var chosen = select.value;
      select.textContent = "";
      users.forEach(function (user) {
        if (!user.disabled) select.appendChild(option(user.id, user.username, user.id === chosen));
      });
    }

    byId("new-override").addEventListener("submit", function (event) {
      event.preventDefault();
      var errorBox = byId("override-error");
      show(errorBox, "");
      var start = byId("override-start").value;
      var end = byId("override-end").value;
      if (!start || !end) { show(errorBox, "Choose when the change starts and ends."); return; }
      var payload = {
        user_id: byId("override-user").value,
        on_call: byId("override-kind").value === "on",
        starts_at: new Date(start).toISOString(), // datetime-local is this browser's time
        ends_at: new Date(end).toISOString()
      };
      busy(submitter(event.target), api("POST", "/rota/overrides", payload)).then(function (result) {
        if (!result.ok) { show(errorBox, errorText(result)); return; }
        byId("override-start").value = "";
        byId("override-end").value = "";
        show(status, "Change added for " + usernameOf(payload.user_id) + ".");
        load();
      }, networkFailed);
    });

    load();
    window.setInterval(refreshNow, 30000); // presence changes as people switch themselves on
  }

  // ---- Resources ----------------------------------------------------------------------------

  function resourcesPage() {
    var status = byId("resources-status");
    var form = byId("resource-form");
    var editing = null;
    var FIELDS = ["name", "category", "areas", "languages", "phone", "hours"];

    function field(name) { return byId("resource-" + name); }

    function stopEditing() {
      editing = null;
      form.reset();
      byId("resource-form-heading").textContent = "Add an entry";
      byId("resource-save").textContent = "Add entry";
      byId("resource-cancel").hidden = true;
      show(byId("resource-error"), "");
    }

    function edit(entry) {
      editing = entry;
      FIELDS.forEach(function (name) {
        var value = entry[name];
        field(name).value = Array.isArray(value) ? value.join(", ") : value;
      });
      byId("resource-form-heading").textContent = "Edit " + entry.name;
      byId("resource-save").textContent = "Save changes";
      byId("resource-cancel").hidden = false;
      show(byId("resource-error"), "");
      form.scrollIntoView({ block: "start" });
      field("name").focus();
    }

    function render(entries) {
      var tbody = byId("resources").querySelector("tbody");
      tbody.textContent = "";
      entries.forEach(function (entry) {
        var row = element("tr");
        row.setAttribute("data-name", entry.name);
        cell(row, "Name", entry.name);
        cell(row, "Category", entry.category);
        cell(row, "Areas", entry.areas.join(", "));
        cell(row, "Languages", entry.languages.join(", ") || "any");
        cell(row, "Phone", entry.phone);
        cell(row, "Hours", entry.hours);
        var errorBox = element("p", "error");
        errorBox.setAttribute("role", "alert");
        errorBox.hidden = true;
        var actions = element("div", "cell-actions");
        var change = button("Edit", "", function () { edit(entry); });
        change.setAttribute("aria-label", "Edit " + entry.name);
        var remove = button("Remove", "danger", function () {
          if (!window.confirm("Remove " + entry.name + " from the directory?")) return;
          var path = "/resources/" + encodeURIComponent(entry.id);
          busy(remove, api("DELETE", path)).then(function (result) {
            if (!result.ok) { show(errorBox, errorText(result)); return; }
            if (editing && editing.id === entry.id) stopEditing();
            show(status, entry.name + " removed.");
            load();
          }, networkFailed);
        });
        remove.setAttribute("aria-label", "Remove " + entry.name);
        actions.appendChild(change);
        actions.appendChild(remove);
        actions.appendChild(errorBox);
        cell(row, "Actions", actions);
        tbody.appendChild(row);
      });
      byId("resources").hidden = !entries.length;
      byId("resources-empty").hidden = entries.length > 0;
    }

    function load() {
      return api("GET", "/resources").then(function (result) {
        if (!result.ok) { pageError(errorText(result)); return; }
        render(result.data);
      }, networkFailed);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var errorBox = byId("resource-error");
      show(errorBox, "");
      var payload = {
        name: field("name").value,
        category: field("category").value,
        areas: splitList(field("areas").value, /[,;]/),
        languages: splitList(field("languages").value, /[,;]/),
        phone: field("phone").value,
        hours: field("hours").value
      };
      var request = editing
        ? api("PUT", "/resources/" + encodeURIComponent(editing.id), payload)
        : api("POST", "/resources", payload);
      busy(byId("resource-save"), request).then(function (result) {
        if (!result.ok) { show(errorBox, errorText(result)); return; }
        show(status, result.data.name + (editing ? " saved." : " added."));
        stopEditing();
        load();
      }, networkFailed);
    });

    byId("resource-cancel").addEventListener("click", stopEditing);

    byId("csv-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var file = byId("csv-file").files[0];
      var message = byId("csv-error-message");
      var problems = byId("csv-problems");
      function fail(text, lines) {
        message.textContent = text;
        problems.textContent = "";
        (lines || []).forEach(function (line) { problems.appendChild(element("li", "", line)); });
        byId("csv-error").hidden = false;
      }
      byId("csv-error").hidden = true;
      if (!file) { fail("Choose a CSV file first."); return; }
      if (!window.confirm("Replace the whole directory with the entries in " + file.name + "?")) {
        return;
      }
      var importing = file.text().then(function (text) {
        return sendText("PUT", "/resources.csv", text, "text/csv");
      });
      busy(submitter(event.target), importing).then(function (result) {
        if (result.ok) {
          byId("csv-file").value = "";
          show(status, "Imported " + result.data.imported + " entries from " + file.name + ".");
          load();
        } else if (result.data && result.data.error === "invalid_csv") {
          fail("Nothing was imported. Fix these in the file and import it again:",
               result.data.message.split("\n"));
        } else {
          fail(errorText(result));
        }
      }, function () { fail("The file could not be read or sent. Try again."); });
    });

    load();
  }

  // ---- Canned responses -----------------------------------------------------------------------

  function responsesPage() {
    var status = byId("responses-status");
    var filter = byId("response-language");
    var all = [];

    function renderLanguages() {
      var chosen = filter.value;
      var languages = [];
      all.forEach(function (entry) {
        if (languages.indexOf(entry.language) === -1) languages.push(entry.language);
      });
      if (chosen && languages.indexOf(chosen) === -1) languages.push(chosen);
      languages.sort();
      filter.textContent = "";
      filter.appendChild(option("", "All languages", !chosen));
      languages.forEach(function (language) {
        filter.appendChild(option(language, language, language === chosen));
      });
    }

    function render() {
      var list = byId("responses");
      list.textContent = "";
      var shown = all.filter(function (entry) {
        return !filter.value || entry.language === filter.value;
      });
      shown.forEach(function (entry) {
        var item = element("li");
        var heading = element("div");
        heading.appendChild(element("span", "title", entry.title));
        heading.appendChild(element("span", "language", entry.language));
        item.appendChild(heading);
        item.appendChild(element("p", "text", entry.body));
        var errorBox = element("p", "error");
        errorBox.setAttribute("role", "alert");
        errorBox.hidden = true;
        var remove = button("Remove", "danger", function () {
          if (!window.confirm("Remove the response \u201c" + entry.title + "\u201d?")) return;
          var path = "/canned-responses/" + encodeURIComponent(entry.id);
          busy(remove, api("DELETE", path)).then(function (result) {
            if (!result.ok) { show(errorBox, errorText(result)); return; }
            show(status, "\u201c" + entry.title + "\u201d removed.");
            load();
          }, networkFailed);
        });
        remove.setAttribute("aria-label", "Remove " + entry.title + " (" + entry.language + ")");
        item.appendChild(remove);
        item.appendChild(errorBox);
        list.appendChild(item);
      });
      byId("responses-empty").hidden = shown.length > 0;
    }

    function load() {
      return api("GET", "/canned-responses").then(function (result) {
        if (!result.ok) { pageError(errorText(result)); return; }
        all = result.data;
        renderLanguages();
        render();
      }, networkFailed);
    }

    filter.addEventListener("change", render);

    byId("response-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var errorBox = byId("response-error");
      show(errorBox, "");
      var payload = { language: byId("new-response-language").value,
                      title: byId("new-response-title").value,
                      text: byId("new-response-text").value };
      busy(submitter(event.target), api("POST", "/canned-responses", payload))
        .then(function (result) {
          if (!result.ok) { show(errorBox, errorText(result)); return; }
          byId("new-response-title").value = "";
          byId("new-response-text").value = "";
          show(status, "\u201c" + result.data.title + "\u201d added (" + result.data.language + ").");
          load();
        }, networkFailed);
    });

    load();
  }

  // ---- Settings -------------------------------------------------------------------------------

  // Settings that may be empty: nothing set here means "as the configuration says".
  var NULLABLE = { report_retention_days: true };

  function settingKind(setting) {
    if (Array.isArray(setting.value) || Array.isArray(setting.configured)) return "words";
    if (typeof setting.value === "string" || typeof setting.configured === "string") return "text";
    return "number";
  }

  function shownValue(value) {
    if (Array.isArray(value)) return value.length ? value.join(", ") : "(none)";
    return value === null || value === undefined ? "(empty)" : String(value);
  }

  // How a list setting compares: case and repeats do not count, order does (the server
  // sorts alarm words, but keeps outcome tags in the order advocates will see them).
  function normalisedWords(words) {
    var seen = {};
    return words.map(function (word) { return word.trim().toLowerCase(); })
      .filter(function (word) {
        if (!word || seen[word]) return false;
        seen[word] = true;
        return true;
      });
  }

  function settingsPage() {
    var container = byId("settings");
    var form = byId("settings-form");
    var summary = byId("settings-error");
    var status = byId("settings-status");
    var current = {};
    var fields = {}; // name -> {box, control, error, kind}

    function settingField(name, setting) {
      var kind = settingKind(setting);
      var box = element("div", "setting");
      box.setAttribute("data-setting", name);
      var control;
      if (kind === "words") {
        control = element("textarea");
        control.rows = 5;
        control.spellcheck = false;
        control.value = (setting.value || []).join("\n");
      } else {
        control = element("input");
        if (kind === "number") {
          control.type = "number";
          control.step = "1";
          control.inputMode = "numeric";
        } else {
          control.type = "url";
          control.spellcheck = false;
        }
        control.value = setting.value === null ? "" : String(setting.value);
      }
      control.id = "setting-" + name;
      control.name = name;
      labelled(box, setting.label, control);
      var help = element("p", "hint", setting.help +
        (kind === "words" ? " One a line." : ""));
      help.id = control.id + "-help";
      box.appendChild(help);
      var error = element("p", "error");
      error.id = control.id + "-error";
      error.hidden = true;
      box.appendChild(error);
      control.setAttribute("aria-describedby", help.id + " " + error.id);
      if (setting.changed_here) {
        var configured = element("p", "configured");
        configured.appendChild(element("span", "", "Changed here; the configuration says " +
                                                    shownValue(setting.configured) + "."));
        var reset = button("Reset to configured", "", function () { resetSetting(name, reset); });
        reset.setAttribute("aria-label", "Reset \u201c" + setting.label +
                                         "\u201d to the configured value");
        reset.setAttribute("data-focus", "reset:" + name);
        configured.appendChild(reset);
        box.appendChild(configured);
      }
      fields[name] = { box: box, control: control, error: error, kind: kind, label: setting.label };
      return box;
    }

    function render(settings, only) {
      Object.keys(settings).forEach(function (name) {
        current[name] = settings[name].value;
        if (only && name !== only) return;
        var box = settingField(name, settings[name]);
        var old = container.querySelector('[data-setting="' + name + '"]');
        if (old) old.replaceWith(box); else container.appendChild(box);
      });
    }

    function fieldError(name, text) {
      var target = fields[name];
      if (!target) return false;
      show(target.error, text);
      if (text) target.control.setAttribute("aria-invalid", "true");
      else target.control.removeAttribute("aria-invalid");
      return true;
    }

    function clearErrors() {
      Object.keys(fields).forEach(function (name) { fieldError(name, ""); });
      show(summary, "");
      show(status, "");
    }

    function showRefusal(result) {
      var first = null;
      var loose = [];
      var named = (result.data && result.data.fields) || {};
      Object.keys(named).forEach(function (name) {
        if (fieldError(name, capitalised(named[name]))) {
          if (!first) first = fields[name].control;
        } else {
          loose.push(name === "*" ? named[name] : name + ": " + named[name]);
        }
      });
      show(summary, [errorText(result)].concat(loose).join(" "));
      if (first) first.focus();
    }

    function capitalised(text) { return text.charAt(0).toUpperCase() + text.slice(1) + "."; }

    function resetSetting(name, control) {
      clearErrors();
      var changes = {};
      changes[name] = null;
      busy(control, api("PUT", "/settings", changes)).then(function (result) {
        if (!result.ok) { showRefusal(result); return; }
        render(result.data, name);
        show(status, "\u201c" + fields[name].label + "\u201d is back to the configured value.");
        fields[name].control.focus();
      }, networkFailed);
    }

    // Only what differs is sent: an untouched field must not become "changed here".
    function changes() {
      var found = {};
      var wrong = false;
      Object.keys(fields).forEach(function (name) {
        var target = fields[name];
        var raw = target.control.value;
        var value;
        if (target.kind === "words") {
          value = splitList(raw, /\n/);
          if (JSON.stringify(normalisedWords(value)) ===
              JSON.stringify(normalisedWords(current[name] || []))) return;
        } else if (target.kind === "number") {
          if (target.control.validity.badInput) {
            fieldError(name, "Type a whole number.");
            wrong = true;
            return;
          }
          raw = raw.trim();
          if (!raw) {
            if (!NULLABLE[name]) {
              fieldError(name, "Type a whole number.");
              wrong = true;
              return;
            }
            value = null;
          } else {
            value = Number(raw);
          }
          if (value === current[name]) return;
        } else {
          value = raw.trim();
          if (value === current[name]) return;
        }
        found[name] = value;
      });
      return wrong ? null : found;
    }

    // Shortening retention deletes for good at the next hourly purge: ask first.
    function confirmShorterRetention(changed) {
      var shorter = ["retention_days", "report_retention_days"].filter(function (name) {
        return typeof changed[name] === "number" && typeof current[name] === "number"
          && changed[name] < current[name];
      });
      if (!shorter.length) return true;
      return window.confirm("Keep for fewer days? Everything older than the new limit is " +
        "deleted for good at the next hourly purge, and cannot be brought back.");
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors();
      var changed = changes();
      if (changed === null) {
        show(summary, "Nothing was changed: fix the settings named.");
        var invalid = form.querySelector('[aria-invalid="true"]');
        if (invalid) invalid.focus();
        return;
      }
      var names = Object.keys(changed);
      if (!names.length) { show(status, "Nothing to save: no setting was changed."); return; }
      if (!confirmShorterRetention(changed)) return;
      busy(submitter(form), api("PUT", "/settings", changed)).then(function (result) {
        if (!result.ok) { showRefusal(result); return; }
        container.textContent = "";
        render(result.data);
        show(status, "Saved: " + names.map(function (name) {
          return fields[name] ? fields[name].label : name;
        }).join("; ") + ".");
      }, networkFailed);
    });

    api("GET", "/settings").then(function (result) {
      if (!result.ok) { pageError(errorText(result)); return; }
      render(result.data);
    }, networkFailed);
  }

  // ---- Audit log ------------------------------------------------------------------------------

  function auditPage() {
    var form = byId("audit-filter");
    var action = byId("audit-action");
    var actor = byId("audit-actor");
    var target = byId("audit-target");
    var limit = byId("audit-limit");
    var usernames = {}; // id -> username, to name people who are targets
    var ids = {}; // username -> id, so a username typed as the target finds them
    var query = new URLSearchParams(window.location.search);

    action.value = query.get("action") || "";
    target.value = query.get("target") || "";
    if (query.get("limit")) limit.value = query.get("limit");

    function search() {
      var errorBox = byId("audit-error");
      show(errorBox, "");
      var params = new URLSearchParams();
      if (action.value.trim()) params.set("action", action.value.trim());
      if (actor.value) params.set("actor", actor.value);
      var wanted = target.value.trim();
      if (wanted) params.set("target", ids[wanted] || wanted);
      params.set("limit", limit.value);
      var shown = new URLSearchParams(params);
      if (wanted) shown.set("target", wanted);
      window.history.replaceState(null, "", "?" + shown.toString());
      return busy(submitter(form), api("GET", "/audit?" + params.toString())).then(function (result) {
        if (!result.ok) { show(errorBox, errorText(result)); return; }
        render(result.data);
      }, networkFailed);
    }

    function render(entries) {
      var tbody = byId("audit").querySelector("tbody");
      tbody.textContent = "";
      entries.forEach(function (entry) {
        var row = element("tr");
        row.setAttribute("data-action", entry.action);
        cell(row, "When", when(entry.at, true));
        cell(row, "Who", entry.actor);
        cell(row, "Action", entry.action.replace(/_/g, " "));
        if (entry.target) {
          var name = usernames[entry.target];
          var link = button(name || entry.target, "link", function () {
            target.value = name || entry.target;
            search();
          });
          link.setAttribute("aria-label", "Show entries for " + (name || entry.target));
          if (name) link.title = entry.target;
          cell(row, "Target", link);
        } else {
          cell(row, "Target", "");
        }
        cell(row, "Detail", entry.detail || "");
        tbody.appendChild(row);
      });
      var count = entries.length === 0 ? "No entries match." : entries.length + " entr" +
        (entries.length === 1 ? "y" : "ies") + ", newest first" +
        (String(entries.length) === limit.value ? " (the newest " + limit.value +
          " only: narrow the filters to see older ones)." : ".");
      byId("audit-count").textContent = count;
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      search();
    });

    byId("audit-clear").addEventListener("click", function () {
      action.value = "";
      actor.value = "";
      target.value = "";
      search();
    });

    api("GET", "/users").then(function (result) {
      if (!result.ok) { pageError(errorText(result)); return; }
      result.data.forEach(function (user) {
        usernames[user.id] = user.username;
        ids[user.username] = user.id;
        actor.appendChild(option(user.id, user.username, user.id === query.get("actor")));
      });
      search();
    }, networkFailed);
  }

  // ---- Start ----------------------------------------------------------------------------------

  if (page === "admin-people") peoplePage();
  if (page === "admin-resources") resourcesPage();
  if (page === "admin-responses") responsesPage();
  if (page === "admin-settings") settingsPage();
  if (page === "admin-audit") auditPage();
})();
