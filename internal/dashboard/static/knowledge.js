// Porthole dashboard, knowledge page: while a source is being imported,
// refresh its status and progress every few seconds from the JSON API
// (same origin, the session cookie). Loaded from 'self' under the strict
// CSP; it only sets textContent, never markup. The page works without it
// (reload to see progress).
'use strict';

(function () {
  var table = document.querySelector('table[data-knowledge-progress]');
  if (!table || table.getAttribute('data-busy') !== 'true') { return; }
  var url = table.getAttribute('data-knowledge-progress');
  var status = document.querySelector('[data-progress-status]');
  var interval = 3000;
  var failures = 0;

  function progressText(s) {
    var text = '';
    if (s.pages_total) { text = s.pages_done + '/' + s.pages_total + ' pages, '; }
    return text + s.chunk_count + ' passages';
  }

  function apply(sources) {
    var busy = false;
    sources.forEach(function (s) {
      if (s.status === 'pending' || s.status === 'running') { busy = true; }
      var row = table.querySelector('tr[data-source-id="' + s.id + '"]');
      if (!row) { return; }
      var cell = row.querySelector('[data-field="status"]');
      if (cell) { cell.textContent = s.status; }
      cell = row.querySelector('[data-field="progress"]');
      if (cell) { cell.textContent = progressText(s); }
      cell = row.querySelector('[data-field="error"]');
      if (cell && s.error) { cell.textContent = s.error; }
    });
    return busy;
  }

  function poll() {
    fetch(url, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
      .then(function (res) {
        if (!res.ok) { throw new Error('status ' + res.status); }
        return res.json();
      })
      .then(function (body) {
        failures = 0;
        if (apply(body.sources || [])) {
          window.setTimeout(poll, interval);
        } else if (status) {
          status.textContent = 'Import finished. Reload the page to see errors and times.';
        }
      })
      .catch(function () {
        failures++;
        if (failures < 5) {
          window.setTimeout(poll, interval * 2);
        } else if (status) {
          status.textContent = 'Progress could not be refreshed; reload the page.';
        }
      });
  }

  window.setTimeout(poll, interval);
})();
