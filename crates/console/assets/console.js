// The responder console's script: keeps the alert list live over the alert stream, and asks
// before the acts that cannot be undone. Builds every cell with textContent (never HTML), so
// nothing an attacker put in an event (a user agent, a group) can become markup.
'use strict';

(function () {
  for (const form of document.querySelectorAll('form[data-confirm]')) {
    form.addEventListener('submit', (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  const table = document.getElementById('alerts');
  if (table) follow(table);

  // The time as the server writes it: `2026-12-07 04:33:12Z` (events carry microseconds).
  function when(micros) {
    return new Date(Math.floor(micros / 1000)).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  function follow(table) {
    const body = table.tBodies[0];
    const status = document.getElementById('live');
    const say = (state, text) => { status.dataset.state = state; status.textContent = text; };
    const source = new EventSource(table.dataset.stream);
    source.addEventListener('open', () => say('live', 'live'));
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) {
        say('closed', 'stream closed: sign in again, or reload');
      } else {
        say('reconnecting', 'reconnecting…');
      }
    });
    source.addEventListener('lagged', () => say('behind', 'fell behind: reload to see every alert'));
    source.addEventListener('raised', (event) => {
      const alert = JSON.parse(event.data).alert;
      if (body.querySelector(`tr[data-id="${CSS.escape(alert.id)}"]`)) return;
      body.prepend(row(alert));
      const none = document.getElementById('none');
      if (none) none.remove();
    });
    source.addEventListener('grew', (event) => {
      const growth = JSON.parse(event.data).growth;
      const found = body.querySelector(`tr[data-id="${CSS.escape(growth.id)}"]`);
      if (!found) return;
      found.querySelector('.count').textContent = String(growth.count);
      found.querySelector('.last').textContent = when(growth.time);
    });
    source.addEventListener('acknowledged', (event) => {
      const ack = JSON.parse(event.data).acknowledgement;
      const found = body.querySelector(`tr[data-id="${CSS.escape(ack.alert_id)}"]`);
      if (found) found.querySelector('.state').textContent = 'acknowledged';
    });
  }

  function cell(text, className) {
    const td = document.createElement('td');
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function row(alert) {
    const tr = document.createElement('tr');
    tr.dataset.id = alert.id;
    tr.className = 'fresh';
    const severity = document.createElement('span');
    severity.className = `severity ${alert.severity}`;
    severity.textContent = alert.severity;
    const first = document.createElement('td');
    first.append(severity);
    const title = document.createElement('td');
    const link = document.createElement('a');
    link.href = `/console/alert?id=${encodeURIComponent(alert.id)}`;
    link.textContent = alert.title;
    const id = document.createElement('small');
    id.textContent = alert.id;
    title.append(link, document.createElement('br'), id);
    tr.append(first, title, cell(alert.group_key, 'group'), cell(when(alert.first_time)),
      cell(when(alert.last_time), 'last'), cell(String(alert.count), 'count'), cell(alert.state, 'state'));
    return tr;
  }
})();
