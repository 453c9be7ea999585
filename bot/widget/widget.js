/*! supportbot chat widget. Embed with:
 *  <script src="https://HOST/widget.js" data-kb="acme" data-key="pk_..." async></script>
 * Optional: data-title="Help", data-api="https://HOST" (defaults to the script's origin),
 * data-open="true" (start with the panel open).
 * Plain JS, no dependencies; everything renders in a shadow root so that the host page's
 * styles and ours never mix. The conversation lives in sessionStorage (per tab).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.getAttribute("data-kb")) {
    if (window.console) console.error("supportbot widget: add data-kb=\"<knowledge base>\" to the script tag");
    return;
  }
  var KB = script.getAttribute("data-kb");
  var KEY = script.getAttribute("data-key");
  var API = (script.getAttribute("data-api") || new URL(script.src, location.href).origin).replace(/\/$/, "");
  var TITLE = script.getAttribute("data-title") || "Help";
  var STORE = "supportbot:" + API + ":" + KB;
  // The server refuses longer questions (SUPPORTBOT_MAX_QUERY_CHARS; /openapi.json shows it).
  var MAX_CHARS = parseInt(script.getAttribute("data-max-chars") || "2000", 10);

  var CSS = [
    ":host{all:initial;position:fixed;right:20px;bottom:20px;z-index:2147483000;",
    "font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328}",
    "*{box-sizing:border-box}",
    "button,textarea{font:inherit;color:inherit}",
    ".vh{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    ".launcher{display:flex;align-items:center;gap:8px;border:0;border-radius:999px;padding:12px 18px;",
    "background:#3b5bdb;color:#fff;font-weight:600;cursor:pointer;box-shadow:0 6px 20px rgba(0,0,0,.2)}",
    ".launcher svg{width:20px;height:20px}",
    ":focus-visible{outline:3px solid #f59f00;outline-offset:2px}",
    ".panel{position:absolute;right:0;bottom:64px;width:380px;height:560px;max-height:calc(100vh - 110px);",
    "display:flex;flex-direction:column;background:#fff;border-radius:14px;overflow:hidden;",
    "box-shadow:0 12px 40px rgba(0,0,0,.25);border:1px solid #d0d7de}",
    ".panel[hidden]{display:none}",
    "header{display:flex;align-items:center;justify-content:space-between;padding:12px 14px;background:#3b5bdb;color:#fff}",
    "h2{margin:0;font-size:16px}",
    ".close{border:0;background:transparent;color:#fff;font-size:22px;line-height:1;cursor:pointer;padding:4px 8px;border-radius:6px}",
    ".banner{padding:8px 14px;font-size:13px;background:#fff3bf;color:#5c3c00;border-bottom:1px solid #ffe066}",
    ".banner:empty{display:none}",
    ".log{flex:1;overflow-y:auto;margin:0;padding:14px;list-style:none;display:flex;flex-direction:column;gap:10px;background:#f6f8fa}",
    ".msg{max-width:88%;padding:9px 12px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".user{align-self:flex-end;background:#3b5bdb;color:#fff;border-bottom-right-radius:4px}",
    ".bot{align-self:flex-start;background:#fff;border:1px solid #d0d7de;border-bottom-left-radius:4px}",
    ".note{align-self:center;background:#e7f5ff;border:1px solid #a5d8ff;font-size:14px}",
    ".error{border-color:#ffa8a8;background:#fff5f5}",
    ".thinking .text:empty::before{content:'Thinking…';color:#57606a;font-style:italic}",
    ".bot .text{white-space:normal}",
    ".text p{margin:0 0 6px}.text>:last-child{margin-bottom:0}",
    ".text blockquote{margin:4px 0 6px;padding:1px 0 1px 10px;border-left:3px solid #d0d7de;color:#3d444d}",
    ".text ul,.text ol{margin:4px 0 6px;padding-left:20px}",
    ".text code{background:#f1f3f5;padding:0 4px;border-radius:4px;font:13px ui-monospace,SFMono-Regular,Menlo,monospace}",
    "sup a{color:#3b5bdb;text-decoration:none;font-size:11px;padding:0 1px}",
    ".cites-title{margin-top:8px;padding-top:6px;border-top:1px solid #eaeef2;font-size:12px;font-weight:600;color:#57606a;text-transform:uppercase;letter-spacing:.04em}",
    ".cites{margin:2px 0 0;padding:0 0 0 18px;font-size:13px;white-space:normal}",
    ".cites a{color:#3b5bdb}",
    ".feedback{display:flex;align-items:center;gap:6px;margin-top:8px;font-size:13px;color:#57606a;white-space:normal}",
    ".feedback button,.inline{border:1px solid #d0d7de;background:#fff;border-radius:8px;padding:3px 9px;cursor:pointer}",
    ".feedback button[aria-pressed=true]{background:#dbe4ff;border-color:#3b5bdb}",
    ".feedback button:disabled{cursor:default}",
    ".inline{margin-top:8px;color:#3b5bdb;font-weight:600}",
    ".actions{display:flex;justify-content:flex-end;padding:6px 12px 0;background:#fff}",
    ".handoff{border:0;background:transparent;color:#3b5bdb;font-size:13px;cursor:pointer;text-decoration:underline;padding:4px}",
    ".handoff:disabled{color:#57606a;text-decoration:none;cursor:default}",
    "form{display:flex;gap:8px;padding:10px 12px 12px;background:#fff}",
    "textarea{flex:1;resize:none;border:1px solid #d0d7de;border-radius:10px;padding:9px 10px;min-height:42px;max-height:120px}",
    ".send{border:0;border-radius:10px;padding:0 16px;background:#3b5bdb;color:#fff;font-weight:600;cursor:pointer}",
    ".send:disabled{background:#8da2e8;cursor:not-allowed}",
    "@media (max-width:480px){:host{right:12px;bottom:12px}",
    ".panel{position:fixed;inset:0;width:auto;height:auto;max-height:none;border-radius:0;border:0}}",
    "@media (prefers-reduced-motion:no-preference){.panel{animation:pop .15s ease-out}",
    "@keyframes pop{from{opacity:0;transform:translateY(8px)}to{opacity:1;transform:none}}}"
  ].join("");

  var ICON = '<svg viewBox="0 0 24 24" fill="currentColor" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';

  // --- state, kept across reloads in sessionStorage ---------------------------------
  var state = load();
  var busy = false;
  var retryAt = 0;

  function load() {
    try {
      var saved = JSON.parse(sessionStorage.getItem(STORE) || "null");
      if (saved && saved.messages) {
        saved.messages.forEach(function (m) {
          if (m.status === "streaming") { m.status = "error"; m.error = "The answer was interrupted. Ask again?"; }
        });
        return saved;
      }
    } catch (e) { /* private mode or corrupt entry: start afresh */ }
    return { conversationId: newId(), messages: [], open: false, handedOff: false };
  }
  function save() {
    try { sessionStorage.setItem(STORE, JSON.stringify(state)); } catch (e) { /* storage full or blocked */ }
  }
  function newId() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(36).slice(2);
  }

  // --- DOM ---------------------------------------------------------------------------
  var host = document.createElement("div");
  host.setAttribute("data-supportbot", "");
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>" + CSS + "</style>" +
    '<button class="launcher" type="button" aria-expanded="false" aria-controls="panel">' + ICON + '<span class="label"></span></button>' +
    '<section class="panel" id="panel" role="dialog" aria-labelledby="title" hidden>' +
    '<header><h2 id="title"></h2><button class="close" type="button" aria-label="Close chat">&times;</button></header>' +
    '<div class="banner" role="status" aria-live="polite"></div>' +
    '<ol class="log" role="log" aria-live="polite" aria-label="Conversation"></ol>' +
    '<div class="actions"><button class="handoff" type="button">Talk to a person</button></div>' +
    '<form><label class="vh" for="input">Your question</label>' +
    '<textarea id="input" rows="1" maxlength="' + MAX_CHARS + '" placeholder="Ask a question…"></textarea>' +
    '<button class="send" type="submit">Send</button></form></section>';
  var $ = function (sel) { return root.querySelector(sel); };
  var launcher = $(".launcher"), panel = $(".panel"), log = $(".log"), banner = $(".banner");
  var input = $("textarea"), send = $(".send"), handoffButton = $(".handoff"), form = $("form");
  $(".label").textContent = TITLE;
  $("#title").textContent = TITLE;
  launcher.setAttribute("aria-label", "Open " + TITLE + " chat");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  // --- rendering -----------------------------------------------------------------------
  function renderAll() {
    log.textContent = "";
    if (!state.messages.length) {
      var hello = { role: "note", text: "Hi! Ask me anything about " + TITLE.replace(/ ?help$/i, "") + " and I'll answer from the help center." };
      log.appendChild(renderMessage(hello));
    }
    state.messages.forEach(function (m) { log.appendChild(renderMessage(m)); });
    handoffButton.disabled = !!state.handedOff;
    handoffButton.textContent = state.handedOff ? "Support team notified" : "Talk to a person";
    scrollDown();
  }

  function renderMessage(m) {
    var li = el("li", "msg " + (m.role === "user" ? "user" : m.role === "note" ? "note" : "bot"));
    li.id = m.id ? "m-" + m.id : "";
    if (m.role === "user") {
      li.appendChild(el("span", "vh", "You: "));
      li.appendChild(el("span", "text", m.text));
      return li;
    }
    if (m.role === "note") { li.appendChild(el("span", "text", m.text)); return li; }
    li.appendChild(el("span", "vh", "Assistant: "));
    var text = el("div", "text");
    li.appendChild(text);
    fillAnswer(li, m);
    return li;
  }

  function fillAnswer(li, m) {
    var text = li.querySelector(".text");
    var streaming = m.status === "streaming";
    li.classList.toggle("thinking", streaming && !m.text);
    li.classList.toggle("error", m.status === "error");
    li.setAttribute("aria-busy", streaming ? "true" : "false");
    text.textContent = "";
    if (m.status === "error") {
      text.textContent = m.error;
      if (m.question) {
        var retry = el("button", "inline", "Try again");
        retry.type = "button";
        retry.addEventListener("click", function () { removeMessage(m); ask(m.question, true); });
        li.appendChild(retry);
      }
      return;
    }
    renderMarkdown(text, m.text || "", m.citations || []);
    if (streaming) return;
    var shown = (m.citations || []).filter(function (c) { return !m.cited || !m.cited.length || m.cited.indexOf(c.number) >= 0; });
    if (shown.length && m.mode !== "declined") {
      li.appendChild(el("div", "cites-title", "Sources"));
      var list = el("ol", "cites");
      list.setAttribute("aria-label", "Sources");
      shown.forEach(function (c) {
        var item = el("li");
        item.value = c.number;
        var label = [c.title].concat(c.heading_path || []).join(" › ");
        if (c.url) {
          var a = el("a", null, label);
          a.href = c.url; a.target = "_blank"; a.rel = "noopener noreferrer";
          item.appendChild(a);
        } else {
          item.textContent = label;
        }
        list.appendChild(item);
      });
      li.appendChild(list);
    }
    if (m.handoffSuggested && !state.handedOff) {
      var talk = el("button", "inline", "Talk to a person");
      talk.type = "button";
      talk.addEventListener("click", requestHandoff);
      li.appendChild(talk);
    }
    if (m.mode && m.mode !== "declined") li.appendChild(feedbackBar(m));
  }

  // A small, safe Markdown subset (paragraphs, > quotes, - and 1. lists, **bold**, `code`),
  // built as DOM nodes: answer text never becomes HTML.
  var LIST_ITEM = /^\s*([-*]|\d+[.)])\s+(.*)$/;
  function renderMarkdown(node, text, citations) {
    var byNumber = {};
    citations.forEach(function (c) { byNumber[c.number] = c; });
    renderBlocks(node, text.split("\n"), byNumber);
  }
  function renderBlocks(parent, lines, cites) {
    var i = 0, para = [], match;
    function flush() {
      if (!para.length) return;
      var p = el("p"); inline(p, para.join(" "), cites); parent.appendChild(p); para = [];
    }
    while (i < lines.length) {
      if (/^\s*>/.test(lines[i])) {
        flush();
        var quoted = [];
        while (i < lines.length && /^\s*>/.test(lines[i])) quoted.push(lines[i++].replace(/^\s*> ?/, ""));
        var quote = el("blockquote"); renderBlocks(quote, quoted, cites); parent.appendChild(quote);
      } else if ((match = LIST_ITEM.exec(lines[i]))) {
        flush();
        var ordered = /\d/.test(match[1]), list = el(ordered ? "ol" : "ul");
        if (ordered) list.start = parseInt(match[1], 10);
        while (i < lines.length && (match = LIST_ITEM.exec(lines[i])) && /\d/.test(match[1]) === ordered) {
          var item = el("li"); inline(item, match[2], cites); list.appendChild(item); i++;
        }
        parent.appendChild(list);
      } else {
        if (lines[i].trim()) para.push(lines[i]); else flush();
        i++;
      }
    }
    flush();
  }
  function inline(node, text, cites) {
    // `code`, **bold**, and "[2]" as a superscript link to passage 2.
    var pattern = /`([^`]+)`|\*\*([^*]+)\*\*|\[(\d+)\]/g, last = 0, match;
    while ((match = pattern.exec(text))) {
      var c = match[3] && cites[match[3]];
      if (match[3] && (!c || !c.url)) continue;
      node.appendChild(document.createTextNode(text.slice(last, match.index)));
      if (match[1]) node.appendChild(el("code", null, match[1]));
      else if (match[2]) node.appendChild(el("strong", null, match[2]));
      else {
        var sup = el("sup"), a = el("a", null, "[" + match[3] + "]");
        a.href = c.url; a.target = "_blank"; a.rel = "noopener noreferrer";
        a.setAttribute("aria-label", "Source " + match[3] + ": " + c.title);
        sup.appendChild(a); node.appendChild(sup);
      }
      last = pattern.lastIndex;
    }
    node.appendChild(document.createTextNode(text.slice(last)));
  }

  function feedbackBar(m) {
    var bar = el("div", "feedback");
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Was this answer helpful?");
    bar.appendChild(el("span", null, m.feedback ? "Thanks for your feedback!" : "Was this helpful?"));
    [["up", "Yes", "Yes, this helped"], ["down", "No", "No, this didn't help"]].forEach(function (opt) {
      var b = el("button", null, opt[1]);
      b.type = "button";
      b.setAttribute("aria-label", opt[2]);
      b.setAttribute("aria-pressed", m.feedback === opt[0] ? "true" : "false");
      b.disabled = !!m.feedback || !!m.sending;
      b.addEventListener("click", function () { sendFeedback(m, opt[0]); });
      bar.appendChild(b);
    });
    return bar;
  }

  function update(m) {
    var li = root.getElementById("m-" + m.id);
    if (!li) { renderAll(); return; }
    // Keep keyboard focus on the same control when its message is re-rendered.
    var controls = "button,a", active = root.activeElement;
    var index = active && li.contains(active) ? Array.prototype.indexOf.call(li.querySelectorAll(controls), active) : -1;
    var fresh = renderMessage(m);
    li.replaceWith(fresh);
    if (index >= 0) {
      var target = fresh.querySelectorAll(controls)[index];
      if (target && !target.disabled) target.focus(); else input.focus();
    }
    // Follow a streaming answer; once done, show a long answer from its first line.
    if (m.status !== "streaming" && fresh.offsetHeight > log.clientHeight) {
      log.scrollTop = fresh.offsetTop - log.offsetTop - 8;
    } else {
      scrollDown();
    }
  }
  function removeMessage(m) {
    state.messages = state.messages.filter(function (x) { return x !== m; });
    save(); renderAll();
  }
  function scrollDown() { log.scrollTop = log.scrollHeight; }

  // --- open / close ----------------------------------------------------------------------
  function setOpen(open, focusLauncher) {
    state.open = open; save();
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.setAttribute("aria-label", (open ? "Close " : "Open ") + TITLE + " chat");
    if (open) { renderAll(); input.focus(); } else if (focusLauncher) { launcher.focus(); }
  }
  launcher.addEventListener("click", function () { setOpen(panel.hidden, false); });
  $(".close").addEventListener("click", function () { setOpen(false, true); });
  document.addEventListener("keydown", function (e) {
    // Escape closes the panel when focus is in it (or was lost to the page body).
    var inside = document.activeElement === host || document.activeElement === document.body;
    if (e.key === "Escape" && !panel.hidden && inside) { e.preventDefault(); setOpen(false, true); }
  });

  // --- status: offline and rate limits ---------------------------------------------------
  function refreshStatus() {
    var wait = Math.ceil((retryAt - Date.now()) / 1000);
    if (!navigator.onLine) {
      banner.textContent = "You're offline. Check your connection; you can send again once you're back online.";
    } else if (wait > 0) {
      banner.textContent = "You're sending messages too quickly. You can ask again in " + wait + " s.";
      setTimeout(refreshStatus, 1000);
    } else {
      banner.textContent = "";
    }
    send.disabled = busy || !navigator.onLine || wait > 0;
  }
  window.addEventListener("online", refreshStatus);
  window.addEventListener("offline", refreshStatus);

  // --- HTTP ----------------------------------------------------------------------------------
  function headers() {
    var h = { "Content-Type": "application/json" };
    if (KEY) h.Authorization = "Bearer " + KEY;
    return h;
  }
  function post(path, body) {
    return fetch(API + path, { method: "POST", headers: headers(), body: JSON.stringify(body), credentials: "omit" });
  }
  function problem(response) {
    // Our errors are {"error": {"code", "message"}}; anything else gets a generic message.
    return response.json().catch(function () { return {}; }).then(function (body) {
      var err = (body && body.error) || {};
      var e = new Error(err.message || "The help service answered " + response.status + ".");
      e.status = response.status; e.code = err.code;
      e.retryAfter = parseInt(response.headers.get("Retry-After") || "0", 10) || 0;
      throw e;
    });
  }

  // --- asking ----------------------------------------------------------------------------------
  function transcript(limit) {
    return state.messages
      .filter(function (m) { return (m.role === "user" || m.role === "bot") && m.status !== "error" && m.status !== "streaming" && m.text; })
      .slice(-limit)
      .map(function (m) { return { role: m.role === "user" ? "user" : "assistant", content: m.text.slice(0, 8000) }; });
  }

  function ask(question, isRetry) {
    question = question.trim();
    if (!question || busy) return;
    if (!navigator.onLine) { refreshStatus(); return; }
    if (!isRetry) state.messages.push({ id: newId(), role: "user", text: question });
    var m = { id: newId(), role: "bot", text: "", status: "streaming", question: question, citations: [] };
    state.messages.push(m);
    busy = true; refreshStatus(); save(); renderAll();
    stream(question, m)
      .catch(function (e) {
        m.status = "error";
        if (e.status === 429) {
          retryAt = Date.now() + (e.retryAfter || 5) * 1000;
          m.error = "You're sending messages too quickly. Please wait a moment, then try again.";
        } else if (!navigator.onLine || e instanceof TypeError) {
          m.error = "Couldn't reach the help service. Check your connection and try again.";
        } else {
          m.error = "Sorry, something went wrong: " + e.message;
        }
      })
      .then(function () { busy = false; save(); update(m); refreshStatus(); });
  }

  function stream(question, m) {
    // The server keeps the conversation's history under its id, for follow-up questions.
    var body = { kb: KB, message: question, conversation_id: state.conversationId };
    return post("/v1/chat/stream", body).then(function (response) {
      if (!response.ok) return problem(response);
      var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) {
            if (m.status === "streaming") throw new Error("the answer stopped early");
            return;
          }
          buffer += decoder.decode(chunk.value, { stream: true });
          var parts = buffer.split("\n\n");
          buffer = parts.pop();
          parts.forEach(function (part) { handleEvent(part, m); });
          return pump();
        });
      }
      return pump();
    });
  }

  function handleEvent(raw, m) {
    var name = "message", data = "";
    raw.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) name = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data += line.slice(5).trim();
    });
    if (!data) return;
    var payload = JSON.parse(data);
    if (name === "start") {
      m.citations = payload.citations || [];
    } else if (name === "delta") {
      m.text += payload.text;
      update(m);
    } else if (name === "done") {
      m.text = payload.answer; m.citations = payload.citations; m.cited = payload.cited;
      m.mode = payload.mode; m.handoffSuggested = payload.handoff_suggested;
      if (payload.handoff && payload.handoff.delivered) state.handedOff = true;  // the server already did
      m.status = "done";
    } else if (name === "error") {
      var e = new Error(payload.message || "the answer failed"); e.status = payload.status;
      throw e;
    }
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (send.disabled) return;
    var q = input.value;
    input.value = "";
    ask(q, false);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });

  // --- feedback and handoff ----------------------------------------------------------------------
  function sendFeedback(m, rating) {
    m.sending = true; update(m);
    post("/v1/feedback", {
      kb: KB, rating: rating, question: m.question, answer: m.text, conversation_id: state.conversationId,
      source_ids: (m.citations || []).map(function (c) { return c.source_id; }).slice(0, 20)
    }).then(function (r) { if (!r.ok) return problem(r); m.feedback = rating; })
      .catch(function () { note("Couldn't send your feedback. Please try again."); })
      .then(function () { delete m.sending; save(); update(m); });
  }

  function requestHandoff() {
    if (state.handedOff) return;
    handoffButton.disabled = true;
    post("/v1/handoff", { kb: KB, conversation_id: state.conversationId, reason: "user_request", transcript: transcript(50) })
      .then(function (r) { return r.ok ? r.json() : problem(r); })
      .then(function (body) {
        state.handedOff = body.status === "delivered";
        note(body.message);
      })
      .catch(function (e) {
        note(e.status === 429 ? "You're sending messages too quickly. Please wait a moment." : "Couldn't reach the support team just now. Please try again.");
      })
      .then(function () { save(); renderAll(); if (!panel.hidden) input.focus(); });
  }
  handoffButton.addEventListener("click", requestHandoff);

  function note(text) { state.messages.push({ id: newId(), role: "note", text: text }); save(); renderAll(); }

  // --- start -----------------------------------------------------------------------------------------
  function mount() {
    document.body.appendChild(host);
    renderAll();
    refreshStatus();
    if (state.open || script.getAttribute("data-open") === "true") setOpen(true, false);
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
