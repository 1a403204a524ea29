/* incident: keyboard navigation, live queue refresh, reply editor, reply status polling. */
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // ---- one live mechanism for the queue and the card: GET /api/live every few seconds
  var getJson = function (url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; });
  };
  var postJson = function (url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { ok: r.ok, status: r.status, data: data || {} }; });
    });
  };
  var every = function (seconds, tick) {
    var busy = false;
    var run = function () {
      if (busy) { return; }
      busy = true;
      Promise.resolve().then(tick).catch(function () { /* offline for a moment */ }).then(function () { busy = false; });
    };
    setInterval(function () { if (!document.hidden) { run(); } }, seconds * 1000);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { run(); } });
    return run;
  };
  var refusal = function (res) {
    var d = res && res.data && res.data.detail;
    if (typeof d === "string") { return d; }
    return "Сервер не принял запрос (код " + (res ? res.status : "?") + "). Текст остался в поле.";
  };

  // ---- `?`: the shortcuts (outside the editor and other fields)
  var help = document.getElementById("shortcuts-help");
  var showHelp = function () { if (help && !help.open) { if (help.showModal) { help.showModal(); } else { help.setAttribute("open", ""); } } };
  var helpButton = document.getElementById("show-shortcuts");
  if (helpButton) { helpButton.addEventListener("click", showHelp); }
  document.addEventListener("keydown", function (e) {
    if (e.key === "?" && !e.target.closest("input, textarea, select")) { showHelp(); e.preventDefault(); }
  });

  // ---- queue: j/k/Enter, click a row, live refresh, new-items counter, bulk selection
  var table = document.getElementById("queue");
  if (table) {
    var selectedId = null;
    var rows = function () { return Array.prototype.slice.call(document.querySelectorAll("#queue-rows tr.row")); };
    var select = function (row) {
      rows().forEach(function (r) { r.classList.remove("selected"); });
      if (row) { row.classList.add("selected"); selectedId = row.dataset.id; row.scrollIntoView({ block: "nearest" }); }
    };
    table.addEventListener("click", function (e) {
      var row = e.target.closest("tr.row");
      if (row && !e.target.closest("a, input, label")) { window.location.href = row.dataset.href; }
    });
    document.addEventListener("keydown", function (e) {
      if (e.target.closest("input, textarea, select") || e.ctrlKey || e.metaKey || e.altKey) { return; }
      var list = rows();
      if (!list.length) { return; }
      var i = list.findIndex(function (r) { return r.classList.contains("selected"); });
      if (e.key === "j") { select(list[Math.min(list.length - 1, i + 1)]); e.preventDefault(); }
      else if (e.key === "k") { select(list[Math.max(0, i - 1)]); e.preventDefault(); }
      else if (e.key === "x" && i >= 0) { var box = list[i].querySelector("input.pick"); if (box) { box.checked = !box.checked; } e.preventDefault(); }
      else if (e.key === "Enter" && i >= 0) { window.location.href = list[i].dataset.href; e.preventDefault(); }
      else if (e.key === "/") { var s = document.querySelector(".filters input[type=search]"); if (s) { s.focus(); e.preventDefault(); } }
    });
    // "new": incidents that came in after the newest one the user had seen (kept per browser)
    var seenKey = "incident.queue.seen";
    var stored = parseInt(window.localStorage.getItem(seenKey) || "0", 10);
    var newest = parseInt(document.getElementById("queue-rows").dataset.newest || "0", 10);
    var since = stored > 0 && stored <= newest ? stored : newest;
    window.localStorage.setItem(seenKey, String(since));
    var baseTitle = document.title;
    var badge = document.getElementById("new-count");
    var showCount = function (n) {
      document.title = n > 0 ? "(" + n + ") " + baseTitle : baseTitle;
      if (badge) {
        badge.hidden = n <= 0;
        badge.textContent = n > 0 ? "Новых: " + n + " — отметить просмотренными" : "";
      }
    };
    var withSince = function (url) { return url + (url.indexOf("?") >= 0 ? "&" : "?") + "since=" + since; };
    var refreshRows = function () {
      return fetch(withSince(table.dataset.rowsUrl), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var holder = document.createElement("table");
          holder.innerHTML = html;  // our own server-rendered, escaped HTML
          var fresh = holder.querySelector("tbody");
          var old = document.getElementById("queue-rows");
          if (fresh && old && fresh.innerHTML !== old.innerHTML) {
            var picked = Array.prototype.map.call(old.querySelectorAll("input.pick:checked"), function (b) { return b.value; });
            old.replaceWith(fresh);
            picked.forEach(function (v) { var b = fresh.querySelector('input.pick[value="' + v + '"]'); if (b) { b.checked = true; } });
            if (selectedId) { select(document.querySelector('#queue-rows tr.row[data-id="' + selectedId + '"]')); }
          }
        });
    };
    var lastNewest = newest;
    var ticks = 0;
    var tick = function () {
      return getJson(withSince(table.dataset.liveUrl)).then(function (live) {
        if (!live) { return null; }
        showCount(live["new"] || 0);
        ticks += 1;
        if (live.newest !== lastNewest || ticks % 3 === 0) { lastNewest = live.newest; return refreshRows(); }
        return null;
      });
    };
    if (badge) {
      badge.addEventListener("click", function () {
        since = lastNewest;
        window.localStorage.setItem(seenKey, String(since));
        showCount(0);
        refreshRows();
      });
    }
    var seconds = Math.min(5, parseInt(table.dataset.refresh || "5", 10) || 5);
    var runQueue = every(seconds, tick);
    if (since < newest) { refreshRows(); }
    runQueue();
  }
  // on a phone the queue's filters and the card's list of ready replies start folded
  if (window.matchMedia && window.matchMedia("(max-width: 760px)").matches) {
    ["filters-box", "drafts-box"].forEach(function (id) { var box = document.getElementById(id); if (box) { box.open = false; } });
  }

  // ---- statistics: the per-platform table, fetched once the page is shown
  var byPlatform = document.getElementById("by-platform");
  if (byPlatform && byPlatform.dataset.src) {
    var platformBody = document.getElementById("by-platform-body");
    fetch(byPlatform.dataset.src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { throw new Error("no table"); }
        var holder = document.createElement("div");
        holder.innerHTML = html;  // our own server-rendered, escaped HTML
        var table = holder.querySelector("#by-platform-table");
        if (!table) { throw new Error("no table"); }
        platformBody.replaceWith(table);
      })
      .catch(function () {
        platformBody.textContent = "Не удалось посчитать показатели по площадкам. Обновите страницу.";
      });
  }

  // ---- card: the reply editor. What is typed is saved on the server as a draft (as one
  // types, and on leaving); the first edit takes the incident; sending goes through the API so
  // a refusal never touches the editor; the card follows others' actions live.
  var cardEl = document.getElementById("card");
  var text = document.getElementById("reply-text");
  var refreshReplies = function () {
    var block = document.getElementById("replies");
    if (!block) { return Promise.resolve(); }
    return fetch(block.dataset.url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var holder = document.createElement("div");
        holder.innerHTML = html;  // our own server-rendered, escaped HTML
        var fresh = holder.querySelector("#replies");
        if (fresh) { document.getElementById("replies").replaceWith(fresh); }
      });
  };
  if (cardEl) {
    var incidentId = cardEl.dataset.id;
    var answered = cardEl.dataset.answered === "1";
    var typed = false;
    var leavingByForm = false;
    var form = document.getElementById("reply-form");
    var count = document.getElementById("reply-count");
    var note = document.getElementById("reply-note");
    var errorBox = document.getElementById("reply-error");
    var sendButton = document.getElementById("send-reply");
    var kind = document.getElementById("reply-kind");
    var replyId = document.getElementById("reply-id");
    var limit = text ? parseInt(text.dataset.limit || "0", 10) : 0;
    var lastSaved = text ? text.value : "";
    var saveTimer = null;
    var setNote = function (message) { if (note) { note.textContent = message; } };
    var showError = function (message) {
      if (!errorBox) { return; }
      errorBox.textContent = message || "";
      errorBox.hidden = !message;
    };
    // A placeholder is any bracketed run of words: [имя], [адрес], [номер]. The server uses the
    // same rule (incident/inbox/outbox.py, unfilled_markers).
    var markers = function (value) {
      var found = [];
      var re = /\[([^\[\]\n]{1,100})\]/g;
      var m;
      while ((m = re.exec(value)) !== null) {
        if (/[^\s\d\W_]|[\u0400-\u04FF]/.test(m[1]) && found.indexOf(m[0]) < 0) { found.push(m[0]); }
      }
      return found;
    };
    var problem = function () {
      var value = text.value.trim();
      if (!value) { return "Ответ пустой."; }
      if (limit && value.length > limit) { return "Ответ длиннее " + limit + " символов."; }
      var left = markers(value);
      if (left.length) { return "Заполните в ответе: " + left.join(", "); }
      return "";
    };
    var update = function () {
      if (!text) { return; }
      var n = text.value.length;
      var left = markers(text.value);
      var chars = {one: "символ", few: "символа"}[new Intl.PluralRules("ru").select(n)] || "символов";
      count.textContent = limit ? n + " / " + limit + " символов" : n + " " + chars + " (лимит площадки не задан)";
      if (left.length) { count.textContent += " · заполните " + left.join(", "); }
      count.classList.toggle("over", Boolean((limit && n > limit) || left.length));
    };
    var claimBox = document.getElementById("claim-box");
    var showForm = function (id, visible) { var f = document.getElementById(id); if (f) { f.hidden = !visible; } };
    var showClaim = function (by, mine, name) {
      if (!claimBox) { return; }
      var line = document.getElementById("claim-text");
      claimBox.classList.toggle("claim-banner", Boolean(by && !mine));
      if (by && !mine) {
        line.textContent = "С инцидентом сейчас работает " + (name || by) + ". Ваш текст сохраняется как черновик.";
      } else if (mine) {
        line.textContent = "Инцидент у вас.";
      } else {
        line.textContent = "Инцидент никто не ведёт: он станет вашим, как только вы начнёте писать ответ.";
      }
      showForm("takeover-form", Boolean(by && !mine));
      showForm("take-form", !by);
      showForm("release-form", Boolean(mine));
    };
    var save = function () {
      clearTimeout(saveTimer);
      if (!text || answered || text.value === lastSaved) { return Promise.resolve(); }
      var value = text.value;
      return postJson(form.dataset.draftUrl, { text: value, kind: kind.value || null, reply_id: replyId.value || null, claim: true })
        .then(function (res) {
          if (res.ok) {
            lastSaved = value;
            setNote("Черновик сохранён.");
            showClaim(res.data.claimed_by, res.data.mine, res.data.claimed_by_name);
          } else {
            setNote("Черновик не сохранён: " + refusal(res));
          }
        })
        .catch(function () { setNote("Нет связи с сервером: черновик не сохранён, текст остался в поле."); });
    };
    var edited = function () {
      typed = true;
      update();
      clearTimeout(saveTimer);
      saveTimer = setTimeout(save, 700);
    };
    var markAnswered = function (message) {
      answered = true;
      cardEl.dataset.answered = "1";
      if (text) { text.readOnly = true; }
      if (sendButton) { sendButton.disabled = true; }
      var countdown = document.getElementById("countdown");
      if (countdown) { countdown.remove(); }
      var status = document.getElementById("card-status");
      if (status) { status.textContent = "отвечено"; status.className = "tag st-answered"; }
      if (claimBox) { claimBox.hidden = true; }
      var replyActions = document.getElementById("reply-actions");
      if (replyActions) { replyActions.hidden = true; }
      var draftsBox = document.getElementById("drafts-box");
      if (draftsBox) { draftsBox.open = false; }
      setNote(message);
    };
    var sending = false;
    var send = function (thenNext) {
      if (!text || answered || sending) { return; }
      var wrong = problem();
      if (wrong) { showError(wrong); text.focus(); return; }
      showError("");
      sending = true;
      sendButton.disabled = true;
      postJson(form.dataset.sendUrl, { text: text.value, kind: kind.value || "answer", reply_id: replyId.value || null })
        .then(function (res) {
          sending = false;
          if (res.ok) {
            lastSaved = text.value;
            markAnswered("Ответ поставлен в очередь: сейчас его опубликуют.");
            if (thenNext) { leavingByForm = false; window.location.href = form.dataset.nextUrl; return null; }
            return refreshReplies();
          }
          sendButton.disabled = false;
          showError(refusal(res));
          return null;
        })
        .catch(function () {
          sending = false;
          sendButton.disabled = false;
          showError("Нет связи с сервером: ответ не отправлен, текст остался в поле.");
        });
    };
    if (text) {
      text.addEventListener("input", edited);
      update();
      if (!answered) {
        text.focus();
        text.setSelectionRange(text.value.length, text.value.length);
      }
      form.addEventListener("submit", function (e) { e.preventDefault(); send(false); });
      text.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(e.shiftKey); }
      });
      var put = function (value, newKind, newReplyId) {
        text.value = value;
        kind.value = newKind || "answer";
        replyId.value = newReplyId || "";
        edited();
        text.focus();
      };
      document.querySelectorAll(".use-draft").forEach(function (b) {
        b.addEventListener("click", function () {
          var draft = b.closest(".draft");
          put(draft.querySelector(".draft-text").textContent, draft.dataset.kind, draft.dataset.replyId);
        });
      });
      document.querySelectorAll(".pick-kind").forEach(function (b) {
        b.addEventListener("click", function () {
          var draft = document.querySelector('.draft[data-kind="' + b.dataset.kind + '"]');
          if (draft) { put(draft.querySelector(".draft-text").textContent, draft.dataset.kind, draft.dataset.replyId); }
          else { kind.value = b.dataset.kind; text.focus(); }
        });
      });
      var pick = document.getElementById("redirect-pick");
      if (pick) {
        pick.addEventListener("change", function () {
          var option = pick.options[pick.selectedIndex];
          if (option.dataset.text) { put(option.dataset.text, "redirect", option.dataset.replyId); }
        });
      }
      // "/" and a few letters: the reply templates to insert
      var templates = [];
      try { templates = JSON.parse((document.getElementById("reply-templates") || {}).textContent || "[]"); } catch (err) { templates = []; }
      var menu = document.getElementById("slash-menu");
      var found = [];
      var active = 0;
      var slashAt = -1;
      var closeMenu = function () { menu.hidden = true; found = []; slashAt = -1; };
      var drawMenu = function () {
        menu.textContent = "";
        found.forEach(function (t, i) {
          var item = document.createElement("button");
          item.type = "button";
          item.className = "slash-item" + (i === active ? " active" : "");
          item.setAttribute("role", "option");
          var head = document.createElement("strong");
          head.textContent = t.title;
          item.appendChild(head);
          item.appendChild(document.createTextNode(" " + t.label));
          item.addEventListener("mousedown", function (e) { e.preventDefault(); insert(i); });
          menu.appendChild(item);
        });
        menu.hidden = found.length === 0;
      };
      var insert = function (i) {
        var t = found[i];
        if (!t || slashAt < 0) { return; }
        var caret = text.selectionStart;
        var before = text.value.slice(0, slashAt);
        var after = text.value.slice(caret);
        text.value = before + t.text + after;
        kind.value = t.kind || "answer";
        replyId.value = t.reply_id || "";
        var at = before.length + t.text.length;
        text.setSelectionRange(at, at);
        closeMenu();
        edited();
      };
      text.addEventListener("input", function () {
        var caret = text.selectionStart;
        var m = /(^|\s)\/([^\s\/]{0,30})$/.exec(text.value.slice(0, caret));
        if (!m || !templates.length) { closeMenu(); return; }
        var q = m[2].toLowerCase();
        slashAt = caret - m[2].length - 1;
        // the kind's name first ("/лич": into private messages), then the words of the text
        var byTitle = templates.filter(function (t) { return t.title.toLowerCase().indexOf(q) >= 0; });
        var byText = templates.filter(function (t) { return byTitle.indexOf(t) < 0 && t.text.toLowerCase().indexOf(q) >= 0; });
        found = byTitle.concat(byText).slice(0, 6);
        active = 0;
        drawMenu();
      });
      text.addEventListener("keydown", function (e) {
        if (menu.hidden) { return; }
        if (e.key === "ArrowDown") { active = (active + 1) % found.length; drawMenu(); e.preventDefault(); }
        else if (e.key === "ArrowUp") { active = (active + found.length - 1) % found.length; drawMenu(); e.preventDefault(); }
        else if ((e.key === "Enter" && !e.ctrlKey && !e.metaKey) || e.key === "Tab") { insert(active); e.preventDefault(); }
        else if (e.key === "Escape") { closeMenu(); e.preventDefault(); }
      });
      text.addEventListener("blur", function () { setTimeout(closeMenu, 150); });
    }
    // leaving the card lets the incident go (the draft stays; unsaved text is sent along)
    document.addEventListener("submit", function (e) { if (e.target !== form) { leavingByForm = true; } });
    window.addEventListener("pagehide", function () {
      if (leavingByForm || !navigator.sendBeacon) { return; }
      var data = new FormData();
      data.append("csrf_token", csrf);
      if (text && !answered && text.value !== lastSaved) {
        data.append("text", text.value);
        data.append("kind", kind.value || "");
        data.append("reply_id", replyId.value || "");
      }
      navigator.sendBeacon("/incidents/" + incidentId + "/leave", data);
    });
    // live: who holds it, who else has it open, replies, answered elsewhere
    var repliesSeen = null;
    var viewersLine = document.getElementById("viewers");
    var cardTick = function () {
      return getJson("/api/live?incident=" + incidentId + "&editing=" + (typed ? "1" : "0")).then(function (live) {
        if (!live || !live.card) { return null; }
        var c = live.card;
        if (viewersLine) {
          viewersLine.textContent = c.viewers.length
            ? "Сейчас открыт также у: " + c.viewers.map(function (v) { return (v.name || v.username) + (v.editing ? " (пишет ответ)" : ""); }).join(", ")
            : "";
        }
        if (!answered && (c.answered || c.status !== "open")) {
          markAnswered(c.status === "closed" ? "Инцидент закрыт. Ваш текст сохранён как черновик." : "На инцидент уже ответили. Ваш текст сохранён как черновик.");
          if (c.status === "closed") { var st = document.getElementById("card-status"); if (st) { st.textContent = c.status_title; st.className = "tag st-closed"; } }
        } else if (!answered) {
          showClaim(c.claimed_by, c.mine, c.claimed_by_name);
        }
        var signature = JSON.stringify(c.replies);
        if (repliesSeen !== null && signature !== repliesSeen) { refreshReplies(); }
        repliesSeen = signature;
        return null;
      });
    };
    var runCard = every(parseInt(cardEl.dataset.refresh || "3", 10), cardTick);
    runCard();
  }
}());
