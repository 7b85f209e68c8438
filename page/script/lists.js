/* The queue and the largest reservations in flight. */
function table(headers, rows, numeric) {
  return el(
    'div',
    { className: 'list-wrap' },
    el(
      'table',
      { className: 'list' },
      el(
        'thead',
        null,
        el(
          'tr',
          null,
          headers.map(function (h, i) {
            return el('th', { scope: 'col', className: numeric[i] ? 'num' : null, text: h });
          }),
        ),
      ),
      el(
        'tbody',
        null,
        rows.map(function (cells) {
          return el(
            'tr',
            null,
            cells.map(function (c, i) {
              return el('td', { className: numeric[i] ? 'num' : null }, typeof c === 'string' ? c : c);
            }),
          );
        }),
      ),
    ),
  );
}

function renderQueue(report) {
  var queue = queueLines(report);
  if (queue === null) {
    replace(
      'queue',
      el('p', {
        className: 'empty',
        text: 'Who waits is known only to a running proxy: open this page on the proxy\u2019s own address to see its queue.',
      }),
    );
    return;
  }
  var waiting = queue.filter(function (q) {
    return q.length > 0;
  });
  var total = waiting.reduce(function (sum, q) {
    return sum + q.length;
  }, 0);
  var container = document.getElementById('queue');
  container.dataset.total = String(total);
  if (waiting.length === 0) {
    replace('queue', el('p', { className: 'empty', text: '✓ Nobody waits for budget.' }));
    return;
  }
  var rows = waiting.map(function (q) {
    var sessions = Array.isArray(q.sessions)
      ? q.sessions
          .map(function (s) {
            return (s.session || s.name) + ': ' + s.length;
          })
          .join(', ')
      : '—';
    return [scopeName(q.scope), num(q.length), duration(q.oldestWaitMs), sessions];
  });
  replace('queue', [
    el('p', {
      className: 'hint',
      text: '≡ ' + total + (total === 1 ? ' request waits' : ' requests wait') + ' for budget (served in turn, up to --max-wait).',
    }),
    table(['Group', 'Waiting', 'Oldest wait', 'By session'], rows, [false, true, true, false]),
  ]);
}

function renderReservations(report) {
  var history = report.history;
  if (!history || history.reservations.length === 0) {
    replace('reservations', el('p', { className: 'empty', text: 'Nothing in flight.' }));
    return;
  }
  var now = serverNow();
  var rows = history.reservations.map(function (r) {
    return [scopeName(r.scope), num(r.inputTokens), num(r.outputTokens), duration(now - r.admittedAt), r.probe ? '◐ probe' : ''];
  });
  var note =
    history.reservationsInFlight > history.reservations.length
      ? 'The ' + history.reservations.length + ' largest of ' + history.reservationsInFlight + ' requests in flight.'
      : history.reservationsInFlight + ' in flight.';
  replace('reservations', [
    el('p', { className: 'hint', text: note }),
    table(['Group', 'Input reserved', 'Output reserved', 'Running for', ''], rows, [false, true, true, true, false]),
  ]);
}
