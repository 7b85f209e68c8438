/* The summary line and one sentence per trouble. */
function renderSummary(report, groups) {
  var items = [];
  groups.forEach(function (g) {
    var name = scopeText(g.line.scope);
    if (g.condition === 'cooling')
      items.push([
        'warn',
        name +
          ' is cooling: refused locally for ' +
          duration(g.line.cooldownRemainingMs) +
          ' more (ladder level ' +
          g.line.backoffLevel +
          ')',
      ]);
    else if (g.condition === 'half-open') items.push(['warn', name + ' is probing: one request goes first, the rest wait']);
    if (g.waiting && g.waiting.length > 0)
      items.push(['warn', g.waiting.length + ' waiting for budget in ' + name + ', the oldest for ' + duration(g.waiting.oldestWaitMs)]);
    if (g.cut)
      items.push([
        'warn',
        name + ' runs on a cut budget (' + num(g.line.tokenBudget) + ' tokens) until a probe succeeds and the upstream shows room',
      ]);
  });
  if (report.supervisor && report.supervisor.gaveUp)
    items.push(['error', 'The supervisor gave up restarting the worker; see the restart history below']);
  var workers = (report.processes || []).filter(function (p) {
    return p.role === 'worker';
  });
  if (
    !workers.some(function (p) {
      return p.running;
    })
  )
    items.push(['error', 'No worker is running on this database: nothing is being forwarded']);

  var summary = document.getElementById('summary');
  var cooling = groups.filter(function (g) {
    return g.condition === 'cooling';
  }).length;
  var waiting = groups.reduce(function (sum, g) {
    return sum + (g.waiting ? g.waiting.length : 0);
  }, 0);
  if (items.length === 0) {
    summary.dataset.state = 'ok';
    summary.textContent =
      '✓ All clear: nothing is refusing or holding traffic in ' + groups.length + (groups.length === 1 ? ' group.' : ' groups.');
  } else {
    summary.dataset.state = items.some(function (i) {
      return i[0] === 'error';
    })
      ? 'error'
      : 'trouble';
    var parts = [];
    if (cooling > 0) parts.push(cooling + (cooling === 1 ? ' group cooling' : ' groups cooling'));
    if (waiting > 0) parts.push(waiting + (waiting === 1 ? ' request waiting' : ' requests waiting'));
    if (parts.length === 0) parts.push(items.length + (items.length === 1 ? ' thing needs' : ' things need') + ' attention');
    summary.textContent = '⚠ ' + parts.join(', ') + '.';
  }
  replace(
    'trouble',
    items.map(function (item) {
      return el('li', { 'data-severity': item[0] }, item[1]);
    }),
  );
}
