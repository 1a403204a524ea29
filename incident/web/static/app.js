/* incident: keyboard navigation, live queue refresh, reply editor, reply status polling. */
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // ---- queue: j/k/Enter, click a row, live refresh without reloading the page
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
      if (row && !e.target.closest("a")) { window.location.href = row.dataset.href; }
    });
    document.addEventListener("keydown", function (e) {
      if (e.target.closest("input, textarea, select") || e.ctrlKey || e.metaKey || e.altKey) { return; }
      var list = rows();
      if (!list.length) { return; }
      var i = list.findIndex(function (r) { return r.classList.contains("selected"); });
      if (e.key === "j") { select(list[Math.min(list.length - 1, i + 1)]); e.preventDefault(); }
      else if (e.key === "k") { select(list[Math.max(0, i - 1)]); e.preventDefault(); }
      else if (e.key === "Enter" && i >= 0) { window.location.href = list[i].dataset.href; e.preventDefault(); }
      else if (e.key === "/") { var s = document.querySelector(".filters input[type=search]"); if (s) { s.focus(); e.preventDefault(); } }
    });
    var every = parseInt(table.dataset.refresh || "10", 10) * 1000;
    var refresh = function () {
      if (document.hidden) { return; }
      fetch(table.dataset.rowsUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var holder = document.createElement("table");
          holder.innerHTML = html;  // our own server-rendered, escaped HTML
          var fresh = holder.querySelector("tbody");
          var old = document.getElementById("queue-rows");
          if (fresh && old && fresh.innerHTML !== old.innerHTML) {
            old.replaceWith(fresh);
            if (selectedId) { select(document.querySelector('#queue-rows tr.row[data-id="' + selectedId + '"]')); }
          }
        })
        .catch(function () { /* offline for a moment: try again next time */ });
    };
    if (every > 0) { setInterval(refresh, every); }
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

  // ---- card: reply editor with the platform's limit, drafts, quick kinds
  var text = document.getElementById("reply-text");
  if (text) {
    var count = document.getElementById("reply-count");
    var limit = parseInt(text.dataset.limit || "0", 10);
    var kind = document.getElementById("reply-kind");
    var replyId = document.getElementById("reply-id");
    var update = function () {
      var n = text.value.length;
      var marker = text.value.match(/\[[^\]]{3,}\]/);
      if (limit) {
        count.textContent = n + " / " + limit + " символов";
      } else {
        count.textContent = n + " " + ({one: "символ", few: "символа"}[new Intl.PluralRules("ru").select(n)] || "символов") + " (лимит площадки не задан)";
      }
      if (marker) { count.textContent += " · заполните " + marker[0]; }
      count.classList.toggle("over", Boolean((limit && n > limit) || marker));
    };
    text.addEventListener("input", update);
    update();
    var use = function (draft) {
      text.value = draft.querySelector(".draft-text").textContent;
      kind.value = draft.dataset.kind;
      replyId.value = draft.dataset.replyId;
      update();
      text.focus();
    };
    document.querySelectorAll(".use-draft").forEach(function (b) {
      b.addEventListener("click", function () { use(b.closest(".draft")); });
    });
    document.querySelectorAll(".pick-kind").forEach(function (b) {
      b.addEventListener("click", function () {
        var draft = document.querySelector('.draft[data-kind="' + b.dataset.kind + '"]');
        if (draft) { use(draft); } else { kind.value = b.dataset.kind; text.focus(); }
      });
    });
    var pick = document.getElementById("redirect-pick");
    if (pick) {
      pick.addEventListener("change", function () {
        var option = pick.options[pick.selectedIndex];
        if (!option.dataset.text) { return; }
        text.value = option.dataset.text;
        kind.value = "redirect";
        replyId.value = option.dataset.replyId || "";
        update();
        text.focus();
      });
    }
    var form = document.getElementById("reply-form");
    form.addEventListener("submit", function (e) {
      if (limit && text.value.length > limit) { e.preventDefault(); alert("Ответ длиннее лимита площадки."); return; }
      document.getElementById("send-reply").disabled = true;  // one click, one reply
    });
  }

  // ---- card: follow the reply's status until the worker has posted it (or failed)
  var poll = function () {
    var block = document.getElementById("replies");
    if (!block || block.dataset.waiting !== "1") { return; }
    setTimeout(function () {
      fetch(block.dataset.url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html) {
            var holder = document.createElement("div");
            holder.innerHTML = html;
            var fresh = holder.querySelector("#replies");
            if (fresh) { block.replaceWith(fresh); }
          }
          poll();
        })
        .catch(poll);
    }, 2000);
  };
  poll();
  void csrf;
}());
