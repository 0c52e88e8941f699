// Porthole dashboard: progressive enhancement only. Every page works
// without this file; it adds copy buttons and confirmations. Loaded from
// 'self' under a CSP that allows no inline script, so it attaches its handlers
// here and never uses inline handlers, eval or innerHTML.
'use strict';

(function () {
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-http installations (local development) have no async
    // clipboard: fall back to a selected off-screen text area.
    return new Promise(function (resolve, reject) {
      var area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.className = 'visually-hidden';
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error('copy refused')); }
    });
  }

  function status(id, text) {
    var el = document.querySelector('[data-copy-status="' + id + '"]');
    if (el) { el.textContent = text; }
  }

  document.addEventListener('click', function (ev) {
    var button = ev.target.closest('button[data-copy]');
    if (!button) { return; }
    var id = button.getAttribute('data-copy');
    var source = document.getElementById(id);
    if (!source) { return; }
    var text = 'value' in source && source.tagName === 'INPUT' ? source.value : source.textContent;
    copyText(text).then(function () {
      status(id, 'Copied.');
    }, function () {
      status(id, 'Copy failed: select the text and copy it yourself.');
    });
  });

  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    var question = form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) {
      ev.preventDefault();
    }
  });
})();
