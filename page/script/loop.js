/* Reading the view every second, drawing it, and the countdowns between readings. */
function renderWhere(report) {
  var upstream = report.upstream && report.upstream.url ? report.upstream.url : 'no upstream recorded';
  replace('where', [
    'upstream ' + upstream + ' · database ',
    el('span', { className: 'mono', text: report.database }),
    ' · window ' + duration(report.window.lengthMs) + ' · read ' + clock(report.generatedAt),
  ]);
}

function setConnection(kind, text) {
  var node = document.getElementById('connection');
  node.dataset.state = kind;
  node.replaceChildren(
    el('span', { className: 'shape', 'aria-hidden': 'true', text: kind === 'live' ? '●' : kind === 'lost' ? '⚠' : '○' }),
    ' ',
    el('span', { className: 'word', text: text }),
  );
}

function render(report) {
  state.report = report;
  state.receivedAt = Date.now();
  state.offsetMs = Date.now() - report.generatedAt;
  var groups = groupsOf(report);
  countRefusals(report);
  renderWhere(report);
  renderSummary(report, groups);
  renderGroups(report, groups);
  renderQueue(report);
  renderReservations(report);
  renderProcesses(report);
  renderBudgetChart(report);
  renderRefusalChart(report);
  document.body.dataset.ready = 'true';
}

function tickCountdowns() {
  var now = Date.now();
  document.querySelectorAll('.countdown[data-until]').forEach(function (node) {
    node.textContent = countdownText(Number(node.dataset.until) - now);
  });
}

function poll() {
  fetch(viewUrl, { cache: 'no-store', headers: { accept: 'application/json' } })
    .then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body && body.error ? body.error : 'HTTP ' + response.status);
        return body;
      });
    })
    .then(function (report) {
      state.failures = 0;
      render(report);
      setConnection('live', 'Live · every second');
    })
    .catch(function (error) {
      state.failures += 1;
      setConnection('lost', 'No answer: retrying (' + (error && error.message ? error.message : 'unreachable') + ')');
      var summary = document.getElementById('summary');
      if (state.failures >= 3 || state.report === null) {
        summary.dataset.state = 'error';
        summary.textContent = '⚠ The status view cannot be read: what you see may be old.';
      }
    })
    .finally(function () {
      setTimeout(poll, pollMs);
    });
}

function resizeCharts() {
  Object.keys(state.charts).forEach(function (id) {
    var width = plotWidth(id);
    state.charts[id].chart.setSize({ width: width, height: plotHeight(width) });
  });
}

var resizeTimer = null;
window.addEventListener('resize', function () {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(resizeCharts, 150);
});
// Colours follow the reader's scheme: the charts are redrawn when it changes.
window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', function () {
  Object.keys(state.charts).forEach(function (id) {
    state.charts[id].chart.destroy();
  });
  state.charts = {};
  if (state.report) render(state.report);
});
setInterval(tickCountdowns, 250);
poll();
