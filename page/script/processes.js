/* Workers, the supervisor's brakes, and its restart history. */
var processShapes = { running: '●', 'not-responding': '◌', silent: '◌', gone: '○', stopped: '○' };

function renderProcesses(report) {
  var processes = report.processes || [];
  var blocks = [];
  if (processes.length === 0)
    blocks.push(el('p', { className: 'empty', text: 'No worker or supervisor has written a heartbeat to this database.' }));
  else {
    var withHosts = processes.some(function (p) {
      return p.host;
    });
    var rows = processes.map(function (p) {
      var cells = [p.role, (processShapes[p.state] || '?') + ' ' + p.state.replace('-', ' ')];
      if (withHosts) cells.push(p.host || '');
      cells.push(
        String(p.pid),
        p.startedAt ? clock(p.startedAt) + ' (' + duration(serverNow() - p.startedAt) + ' ago)' : '—',
        p.heartbeatAgeMs === null ? '—' : duration(p.heartbeatAgeMs) + ' ago',
        p.listen || '—',
      );
      return cells;
    });
    var headers = ['Role', 'State'].concat(withHosts ? ['Host'] : [], ['PID', 'Started', 'Heartbeat', 'Listens on']);
    blocks.push(
      table(
        headers,
        rows,
        headers.map(function () {
          return false;
        }),
      ),
    );
  }
  var s = report.supervisor;
  if (s) {
    var facts = [
      'failures in the last ' + duration(s.intervalMs) + ': ' + s.failuresInInterval + ' of ' + s.burstLimit + ' allowed',
      'failures in a row: ' + s.consecutiveFailures,
      'next restart after ' + duration(s.nextRestartDelayMs),
    ];
    if (s.gaveUp) facts.unshift('⚠ gave up: reset with ratewarden reset-restarts');
    if (s.lastExit)
      facts.push(
        'last exit ' +
          clock(s.lastExit.at) +
          ': ' +
          (s.lastExit.failed ? 'failed' : 'clean') +
          (s.lastExit.detail ? ' — ' + s.lastExit.detail : ''),
      );
    blocks.push(
      el(
        'p',
        { className: 'facts' },
        facts.map(function (f) {
          return el('span', { text: f });
        }),
      ),
    );
  }
  replace('processes', blocks);

  var events = report.history ? report.history.supervisorEvents : [];
  if (events.length === 0) {
    replace('restarts', el('p', { className: 'empty', text: 'No supervisor event in the last hour.' }));
    return;
  }
  var eventRows = events
    .slice(-20)
    .reverse()
    .map(function (e) {
      return [clock(e.at), e.kind.replace(/-/g, ' '), e.workerPid === null ? '—' : String(e.workerPid), e.detail || e.cause || ''];
    });
  replace('restarts', table(['Time', 'Event', 'Worker', 'Detail'], eventRows, [false, false, true, false]));
}
