// Porthole dashboard, inbox and conversation pages: liveness through
// Server-Sent Events (same origin, the session cookie). Loaded from 'self'
// under the strict CSP. Every text from the server is set with textContent
// or as DOM text nodes, never as markup. The pages work without this file:
// forms post and redirect, a reload shows what changed.
'use strict';

(function () {
  function setStatus(text) {
    var el = document.querySelector('[data-live-status]');
    if (el) { el.textContent = text; }
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  function formatTime(ms) {
    var d = new Date(ms);
    if (isNaN(d.getTime())) { return ''; }
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
      pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ' UTC';
  }

  // listen opens an EventSource and calls handlers[name](data) for each
  // named event; the browser reconnects on its own after a drop.
  function listen(url, handlers) {
    if (!window.EventSource) { return null; }
    var source = new EventSource(url, { withCredentials: true });
    Object.keys(handlers).forEach(function (name) {
      source.addEventListener(name, function (ev) {
        var data;
        try { data = JSON.parse(ev.data); } catch (e) { return; }
        handlers[name](data);
      });
    });
    source.addEventListener('open', function () { setStatus('Live: updates appear as they happen.'); });
    source.addEventListener('error', function () { setStatus('Reconnecting for live updates…'); });
    source.addEventListener('shutdown', function () { setStatus('The server is restarting; reconnecting…'); });
    return source;
  }

  // ---- the inbox list ----
  var list = document.querySelector('table[data-inbox-list]');
  if (list) {
    var rowsBody = list.querySelector('[data-inbox-rows]');
    var empty = document.querySelector('[data-inbox-empty]');
    var listURL = list.getAttribute('data-inbox-list');
    var pending = false;

    var render = function (rows) {
      var fresh = document.createDocumentFragment();
      rows.forEach(function (r) {
        var tr = el('tr');
        tr.setAttribute('data-conversation-id', r.id);
        tr.setAttribute('data-state', r.state);
        var link = el('a', '', r.visitor);
        link.setAttribute('href', r.path);
        var first = el('td');
        first.appendChild(link);
        tr.appendChild(first);
        tr.appendChild(el('td', '', r.chatbot));
        var stateCell = el('td');
        stateCell.appendChild(el('span', 'badge state-' + r.state, r.state_label));
        tr.appendChild(stateCell);
        tr.appendChild(el('td', '', r.holder));
        tr.appendChild(el('td', '', r.updated));
        fresh.appendChild(tr);
      });
      while (rowsBody.firstChild) { rowsBody.removeChild(rowsBody.firstChild); }
      rowsBody.appendChild(fresh);
      if (empty) { empty.hidden = rows.length > 0; }
    };

    var refresh = function () {
      if (pending) { return; }
      pending = true;
      fetch(listURL, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
        .then(function (res) {
          if (!res.ok) { throw new Error('status ' + res.status); }
          return res.json();
        })
        .then(function (body) { render(body.conversations || []); })
        .catch(function () { setStatus('The list could not be refreshed; reload the page.'); })
        .then(function () { pending = false; });
    };

    listen(list.getAttribute('data-inbox-events'), { handling: refresh });
  }

  // ---- one conversation ----
  var transcript = document.querySelector('[data-transcript]');
  if (transcript) {
    var lastSeq = parseInt(transcript.getAttribute('data-last-seq'), 10) || 0;
    var version = parseInt(transcript.getAttribute('data-version'), 10) || 0;
    var notes = document.querySelector('[data-notes]');
    var labels = { visitor: 'Visitor', assistant: 'Assistant', agent: 'Agent', system: 'System' };

    var seen = function (seq) {
      return !!transcript.querySelector('li[data-seq="' + String(seq) + '"]');
    };

    var addMessage = function (f) {
      if (!f.seq || seen(f.seq)) { return; }
      var li = el('li', 'msg role-' + (labels[f.role] ? f.role : 'system'));
      li.setAttribute('data-seq', String(f.seq));
      li.appendChild(el('span', 'who', labels[f.role] || f.role));
      li.appendChild(document.createTextNode(' '));
      li.appendChild(el('time', '', formatTime(f.created_at)));
      li.appendChild(el('p', 'text', f.text));
      transcript.appendChild(li);
      lastSeq = Math.max(lastSeq, f.seq);
    };

    var addNote = function (n) {
      if (!notes || !n.note) { return; }
      var li = el('li');
      li.appendChild(el('span', 'who', 'Note'));
      li.appendChild(document.createTextNode(' '));
      li.appendChild(el('time', '', formatTime(Date.parse(n.note.created_at))));
      li.appendChild(el('p', 'text', n.note.text));
      notes.appendChild(li);
    };

    // A new handling version makes the buttons' version stale: say so,
    // rather than let a click fail later.
    var handling = function (h) {
      if (h.lease_version && h.lease_version !== version) {
        var stale = document.querySelector('[data-stale]');
        if (stale) { stale.hidden = false; }
        var badge = document.querySelector('[data-conversation-state]');
        if (badge) { badge.textContent = h.state; }
      }
    };

    listen(transcript.getAttribute('data-events'), {
      frame: function (f) { if (f.type === 'message') { addMessage(f); } },
      note: addNote,
      handling: handling
    });

    // A fresh client id per page load: a double-submitted reply is stored once.
    var clientField = document.querySelector('[data-client-id]');
    if (clientField && window.crypto && window.crypto.getRandomValues) {
      var bytes = new Uint8Array(12);
      window.crypto.getRandomValues(bytes);
      clientField.value = Array.prototype.map.call(bytes, function (b) { return pad16(b); }).join('');
    }
  }

  function pad16(b) { return (b < 16 ? '0' : '') + b.toString(16); }
})();
