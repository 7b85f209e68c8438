/*
 * ratewarden's live page. It polls the status view (the object `ratewarden status --json`
 * prints) once a second and draws it; it writes nothing and loads nothing but its own files.
 * Every piece of state is said in words and shapes; colour only repeats them.
 */
(function () {
  'use strict';

  var viewUrl = '/_ratewarden/status.json';
  var pollMs = 1000;
  var minuteMs = 60000;
  var palette = ['#5b7083', '#b07d2b', '#3f7f6a', '#7a5ea8', '#a0523d', '#4f79a8'];
  var dashes = [[], [7, 3], [2, 3], [9, 3, 2, 3], [1, 4], [12, 4]];
  var maxBudgetSeries = 6;

  var state = {
    report: null,
    /** Local time minus the view's time: countdowns run on this machine's clock without skew. */
    offsetMs: 0,
    /** Refusal totals per scope at the previous reading, and what each minute added since the page opened. */
    refusalTotals: null,
    refusalMinutes: new Map(),
    openedAt: Date.now(),
    charts: {},
    failures: 0,
  };

  // ---------- small helpers ----------

  function el(tag, attributes) {
    var node = document.createElement(tag);
    if (attributes) {
      Object.keys(attributes).forEach(function (name) {
        var value = attributes[name];
        if (value === null || value === undefined || value === false) return;
        if (name === 'text') node.textContent = String(value);
        else if (name === 'className') node.className = value;
        else node.setAttribute(name, String(value));
      });
    }
    var append = function (child) {
      if (child === null || child === undefined || child === false) return;
      if (Array.isArray(child)) child.forEach(append);
      else node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    };
    for (var i = 2; i < arguments.length; i++) append(arguments[i]);
    return node;
  }

  function replace(id, content) {
    var target = document.getElementById(id);
    target.replaceChildren.apply(target, Array.isArray(content) ? content : [content]);
  }

  var integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

  function num(value) {
    return value === null || value === undefined ? '—' : integer.format(value);
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return '—';
    if (ms < 10000) return (Math.max(0, ms) / 1000).toFixed(1) + ' s';
    var seconds = Math.round(ms / 1000);
    if (seconds < 60) return seconds + ' s';
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + ' min ' + String(seconds % 60).padStart(2, '0') + ' s';
    return Math.floor(minutes / 60) + ' h ' + String(minutes % 60).padStart(2, '0') + ' min';
  }

  function countdownText(ms) {
    var seconds = Math.max(0, Math.ceil(ms / 1000));
    var minutes = Math.floor(seconds / 60);
    return minutes + ':' + String(seconds % 60).padStart(2, '0');
  }

  function clock(at) {
    return at === null || at === undefined ? '—' : new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  function serverNow() {
    return Date.now() - state.offsetMs;
  }

  /** `3f9a1c2b7e04d5a6/claude-haiku` → the model group bold, the key's fingerprint below it. */
  function scopeName(scope) {
    var cut = scope.lastIndexOf('/');
    if (cut < 0) return el('span', null, scope);
    return el('span', null, scope.slice(cut + 1), el('span', { className: 'key mono', title: 'key fingerprint (never the key)', text: 'key ' + scope.slice(0, cut) }));
  }

  function scopeText(scope) {
    var cut = scope.lastIndexOf('/');
    return cut < 0 ? scope : scope.slice(cut + 1) + ' (key ' + scope.slice(0, cut) + ')';
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // ---------- reading the view ----------

  /** The queue only the serving proxy knows; a later view may carry it in another field. */
  function queueLines(report) {
    if (report.live && Array.isArray(report.live.queue)) return report.live.queue;
    if (Array.isArray(report.queue)) return report.queue;
    return null;
  }

  function isCut(reason) {
    return reason === 'cut' || reason === 'learned-at-429';
  }

  function isRecovery(reason) {
    return reason === 'recover' || reason === 'heal' || reason === 'healed';
  }

  /** The groups, trouble first: cooling, probing, waiting, cut; then the busiest, as the view lists them. */
  function groupsOf(report) {
    var queue = queueLines(report) || [];
    var history = report.history || { adjustments: [], reported: [] };
    var rank = { cooling: 0, 'half-open': 1, waiting: 2, cut: 3, flowing: 4 };
    return (report.scopes || [])
      .map(function (line, index) {
        var waiting = queue.find(function (q) { return q.scope === line.scope; }) || null;
        var adjustments = history.adjustments.filter(function (a) { return a.scope === line.scope && a.kind === 'tokens'; });
        var last = adjustments[adjustments.length - 1];
        var cut = last !== undefined && isCut(last.reason);
        var reported = {};
        (history.reported || []).forEach(function (r) { if (r.scope === line.scope) reported[r.dimension] = r; });
        var condition = line.phase !== 'closed' ? line.phase : waiting && waiting.length > 0 ? 'waiting' : cut ? 'cut' : 'flowing';
        return { line: line, index: index, waiting: waiting, cut: cut, reported: reported, condition: condition };
      })
      .sort(function (a, b) { return rank[a.condition] - rank[b.condition] || a.index - b.index; });
  }

  // ---------- the summary and trouble list ----------

  function renderSummary(report, groups) {
    var items = [];
    groups.forEach(function (g) {
      var name = scopeText(g.line.scope);
      if (g.condition === 'cooling') items.push(['warn', name + ' is cooling: refused locally for ' + duration(g.line.cooldownRemainingMs) + ' more (ladder level ' + g.line.backoffLevel + ')']);
      else if (g.condition === 'half-open') items.push(['warn', name + ' is probing: one request goes first, the rest wait']);
      if (g.waiting && g.waiting.length > 0) items.push(['warn', g.waiting.length + ' waiting for budget in ' + name + ', the oldest for ' + duration(g.waiting.oldestWaitMs)]);
      if (g.cut) items.push(['warn', name + ' runs on a cut budget (' + num(g.line.tokenBudget) + ' tokens) until a probe succeeds and the upstream shows room']);
    });
    if (report.supervisor && report.supervisor.gaveUp) items.push(['error', 'The supervisor gave up restarting the worker; see the restart history below']);
    var workers = (report.processes || []).filter(function (p) { return p.role === 'worker'; });
    if (!workers.some(function (p) { return p.running; })) items.push(['error', 'No worker is running on this database: nothing is being forwarded']);

    var summary = document.getElementById('summary');
    var cooling = groups.filter(function (g) { return g.condition === 'cooling'; }).length;
    var waiting = groups.reduce(function (sum, g) { return sum + (g.waiting ? g.waiting.length : 0); }, 0);
    if (items.length === 0) {
      summary.dataset.state = 'ok';
      summary.textContent = '✓ All clear: nothing is refusing or holding traffic in ' + groups.length + (groups.length === 1 ? ' group.' : ' groups.');
    } else {
      summary.dataset.state = items.some(function (i) { return i[0] === 'error'; }) ? 'error' : 'trouble';
      var parts = [];
      if (cooling > 0) parts.push(cooling + (cooling === 1 ? ' group cooling' : ' groups cooling'));
      if (waiting > 0) parts.push(waiting + (waiting === 1 ? ' request waiting' : ' requests waiting'));
      if (parts.length === 0) parts.push(items.length + (items.length === 1 ? ' thing needs' : ' things need') + ' attention');
      summary.textContent = '⚠ ' + parts.join(', ') + '.';
    }
    replace('trouble', items.map(function (item) { return el('li', { 'data-severity': item[0] }, item[1]); }));
  }

  // ---------- the groups ----------

  var badges = {
    cooling: ['■', 'Cooling'],
    'half-open': ['◐', 'Probing'],
    waiting: ['≡', 'Waiting'],
    cut: ['▼', 'Cut'],
    flowing: ['✓', 'Flowing'],
  };

  function meter(used, budget, left) {
    if (budget === null || budget === undefined || budget <= 0) return null;
    var share = Math.min(1, used / budget);
    var node = el('div', { className: 'meter', 'aria-hidden': 'true', 'data-level': share >= 1 ? 'full' : share >= 0.8 ? 'high' : 'normal' }, el('div', { className: 'used' }));
    node.firstChild.style.width = (share * 100).toFixed(1) + '%';
    if (left !== null && left !== undefined) {
      var mark = el('div', { className: 'left', title: 'where the upstream\u2019s report ends' });
      mark.style.left = Math.min(100, ((used + left) / budget) * 100).toFixed(1) + '%';
      node.appendChild(mark);
    }
    return node;
  }

  function leftText(report) {
    if (!report) return '—';
    return num(report.remaining) + (report.limit !== null && report.limit !== undefined ? ' of ' + num(report.limit) : '');
  }

  function dimensionRows(group, metric) {
    var line = group.line;
    var r = group.reported;
    var rows = [['Requests', line.windowRequests, line.requestBudget, r.requests]];
    rows.push(['Input tokens', line.windowInputTokens, metric === 'input' ? line.tokenBudget : null, r['input-tokens']]);
    rows.push(['Output tokens', line.windowOutputTokens, metric === 'output' ? line.tokenBudget : null, r['output-tokens']]);
    if (metric === 'total' || r.tokens) rows.push(['Tokens (in + out)', line.windowTokens, metric === 'total' ? line.tokenBudget : null, r.tokens]);
    var body = [];
    rows.forEach(function (row) {
      var used = row[1] === undefined ? null : row[1];
      var budget = row[2];
      var share = budget ? Math.round((100 * (used || 0)) / budget) + ' % of the budget' : null;
      body.push(
        el('tr', null,
          el('th', { scope: 'row', text: row[0] }),
          el('td', { text: num(used), title: share }),
          el('td', { text: num(budget) }),
          el('td', { text: leftText(row[3]) })),
      );
      var bar = meter(used || 0, budget, row[3] ? row[3].remaining : null);
      if (bar) body.push(el('tr', { className: 'meter-row' }, el('td', { colspan: 4 }, bar)));
    });
    return el('table', { className: 'dims' },
      el('thead', null, el('tr', null,
        el('th', { scope: 'col', text: 'Window' }),
        el('th', { scope: 'col', text: 'Used' }),
        el('th', { scope: 'col', text: 'Budget' }),
        el('th', { scope: 'col', text: 'Upstream left' }))),
      el('tbody', null, body));
  }

  function groupCard(group, report) {
    var line = group.line;
    var badge = badges[group.condition];
    var label = badge[1] + (group.condition === 'waiting' ? ' (' + group.waiting.length + ')' : '');
    var card = el('article', { className: 'group', 'data-scope': line.scope, 'data-phase': line.phase, 'data-condition': group.condition, 'aria-label': scopeText(line.scope) + ': ' + label },
      el('div', { className: 'group-head' },
        el('h3', { className: 'group-name' }, scopeName(line.scope)),
        el('span', { className: 'badge', 'data-state': group.condition }, el('span', { 'aria-hidden': 'true', text: badge[0] }), label)));
    if (line.phase === 'cooling') {
      var until = state.receivedAt + line.cooldownRemainingMs;
      card.appendChild(el('p', { className: 'cooldown' },
        'Cooling: every request is answered locally for ',
        el('span', { className: 'countdown', 'data-until': until, role: 'timer', text: countdownText(line.cooldownRemainingMs) }),
        ' more · ladder level ' + line.backoffLevel + ' · ' + line.consecutive429s + ' upstream 429' + (line.consecutive429s === 1 ? '' : 's') + ' in a row'));
    } else if (line.phase === 'half-open') {
      card.appendChild(el('p', { className: 'probe', text: 'Probing: one request goes to the upstream first; the others wait for its answer (ladder level ' + line.backoffLevel + ').' }));
    }
    card.appendChild(dimensionRows(group, report.window ? report.window.tokenMetric : 'total'));
    var facts = [];
    if (group.waiting) facts.push(group.waiting.length + ' waiting, oldest ' + duration(group.waiting.oldestWaitMs));
    facts.push('refused locally: ' + num(line.refusals.cooldown) + ' in cooldown, ' + num(line.refusals.budget) + ' for budget');
    card.appendChild(el('p', { className: 'facts' }, facts.map(function (f) { return el('span', { text: f }); })));
    return card;
  }

  function renderGroups(report, groups) {
    if (groups.length === 0) {
      replace('groups', el('p', { className: 'empty', text: 'No limit group has seen traffic in the last hour.' }));
      return;
    }
    replace('groups', groups.map(function (g) { return groupCard(g, report); }));
  }

  // ---------- queue and reservations ----------

  function table(headers, rows, numeric) {
    return el('div', { className: 'list-wrap' }, el('table', { className: 'list' },
      el('thead', null, el('tr', null, headers.map(function (h, i) { return el('th', { scope: 'col', className: numeric[i] ? 'num' : null, text: h }); }))),
      el('tbody', null, rows.map(function (cells) {
        return el('tr', null, cells.map(function (c, i) { return el('td', { className: numeric[i] ? 'num' : null }, typeof c === 'string' ? c : c); }));
      }))));
  }

  function renderQueue(report) {
    var queue = queueLines(report);
    if (queue === null) {
      replace('queue', el('p', { className: 'empty', text: 'Who waits is known only to a running proxy: open this page on the proxy\u2019s own address to see its queue.' }));
      return;
    }
    var waiting = queue.filter(function (q) { return q.length > 0; });
    var total = waiting.reduce(function (sum, q) { return sum + q.length; }, 0);
    var container = document.getElementById('queue');
    container.dataset.total = String(total);
    if (waiting.length === 0) {
      replace('queue', el('p', { className: 'empty', text: '✓ Nobody waits for budget.' }));
      return;
    }
    var rows = waiting.map(function (q) {
      var sessions = Array.isArray(q.sessions) ? q.sessions.map(function (s) { return (s.session || s.name) + ': ' + s.length; }).join(', ') : '—';
      return [scopeName(q.scope), num(q.length), duration(q.oldestWaitMs), sessions];
    });
    replace('queue', [el('p', { className: 'hint', text: '≡ ' + total + (total === 1 ? ' request waits' : ' requests wait') + ' for budget (served in turn, up to --max-wait).' }), table(['Group', 'Waiting', 'Oldest wait', 'By session'], rows, [false, true, true, false])]);
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
    var note = history.reservationsInFlight > history.reservations.length ? 'The ' + history.reservations.length + ' largest of ' + history.reservationsInFlight + ' requests in flight.' : history.reservationsInFlight + ' in flight.';
    replace('reservations', [el('p', { className: 'hint', text: note }), table(['Group', 'Input reserved', 'Output reserved', 'Running for', ''], rows, [false, true, true, true, false])]);
  }

  // ---------- processes ----------

  var processShapes = { running: '●', 'not-responding': '◌', silent: '◌', gone: '○', stopped: '○' };

  function renderProcesses(report) {
    var processes = report.processes || [];
    var blocks = [];
    if (processes.length === 0) blocks.push(el('p', { className: 'empty', text: 'No worker or supervisor has written a heartbeat to this database.' }));
    else {
      var withHosts = processes.some(function (p) { return p.host; });
      var rows = processes.map(function (p) {
        var cells = [p.role, (processShapes[p.state] || '?') + ' ' + p.state.replace('-', ' ')];
        if (withHosts) cells.push(p.host || '');
        cells.push(String(p.pid), p.startedAt ? clock(p.startedAt) + ' (' + duration(serverNow() - p.startedAt) + ' ago)' : '—', p.heartbeatAgeMs === null ? '—' : duration(p.heartbeatAgeMs) + ' ago', p.listen || '—');
        return cells;
      });
      var headers = ['Role', 'State'].concat(withHosts ? ['Host'] : [], ['PID', 'Started', 'Heartbeat', 'Listens on']);
      blocks.push(table(headers, rows, headers.map(function () { return false; })));
    }
    var s = report.supervisor;
    if (s) {
      var facts = [
        'failures in the last ' + duration(s.intervalMs) + ': ' + s.failuresInInterval + ' of ' + s.burstLimit + ' allowed',
        'failures in a row: ' + s.consecutiveFailures,
        'next restart after ' + duration(s.nextRestartDelayMs),
      ];
      if (s.gaveUp) facts.unshift('⚠ gave up: reset with ratewarden reset-restarts');
      if (s.lastExit) facts.push('last exit ' + clock(s.lastExit.at) + ': ' + (s.lastExit.failed ? 'failed' : 'clean') + (s.lastExit.detail ? ' — ' + s.lastExit.detail : ''));
      blocks.push(el('p', { className: 'facts' }, facts.map(function (f) { return el('span', { text: f }); })));
    }
    replace('processes', blocks);

    var events = report.history ? report.history.supervisorEvents : [];
    if (events.length === 0) {
      replace('restarts', el('p', { className: 'empty', text: 'No supervisor event in the last hour.' }));
      return;
    }
    var eventRows = events.slice(-20).reverse().map(function (e) {
      return [clock(e.at), e.kind.replace(/-/g, ' '), e.workerPid === null ? '—' : String(e.workerPid), e.detail || e.cause || ''];
    });
    replace('restarts', table(['Time', 'Event', 'Worker', 'Detail'], eventRows, [false, false, true, false]));
  }

  // ---------- charts ----------

  function axisStyle() {
    var text = cssVar('--muted');
    var line = cssVar('--line');
    return { stroke: text, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
  }

  function plotWidth(id) {
    return Math.max(260, document.getElementById(id).clientWidth);
  }

  /** Taller on a wall screen, never a sliver on a phone. */
  function plotHeight(width) {
    return Math.round(Math.min(380, Math.max(200, width * 0.36)));
  }

  function makeChart(id, series, data, extra) {
    var existing = state.charts[id];
    var key = series.map(function (s) { return s.label; }).join('|');
    if (existing && existing.key === key) {
      existing.chart.setData(data);
      return;
    }
    if (existing) existing.chart.destroy();
    var axis = axisStyle();
    var options = Object.assign({
      width: plotWidth(id),
      height: plotHeight(plotWidth(id)),
      series: [{}].concat(series),
      axes: [Object.assign({}, axis), Object.assign({ size: 60 }, axis)],
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
    }, extra || {});
    var target = document.getElementById(id);
    target.replaceChildren();
    state.charts[id] = { key: key, chart: new uPlot(options, data, target) };
  }

  /** Each group's token budget over the hour, rebuilt backwards from today's value through its recorded changes. */
  function renderBudgetChart(report) {
    var history = report.history;
    var now = report.generatedAt;
    var since = history ? history.since : now - 3600000;
    var adjustments = history ? history.adjustments.filter(function (a) { return a.kind === 'tokens'; }) : [];
    var scopes = (report.scopes || []).filter(function (s) {
      return s.tokenBudget !== null || adjustments.some(function (a) { return a.scope === s.scope; });
    });
    scopes.sort(function (a, b) {
      var changed = Number(adjustments.some(function (x) { return x.scope === b.scope; })) - Number(adjustments.some(function (x) { return x.scope === a.scope; }));
      return changed || (b.tokenBudget || 0) - (a.tokenBudget || 0);
    });
    scopes = scopes.slice(0, maxBudgetSeries);
    var times = [since, now];
    adjustments.forEach(function (a) { times.push(a.at); });
    times = Array.from(new Set(times)).filter(function (t) { return t >= since && t <= now; }).sort(function (a, b) { return a - b; });
    var xs = times.map(function (t) { return t / 1000; });
    var data = [xs];
    var series = [];
    var cutPoints = xs.map(function () { return null; });
    var recoveryPoints = xs.map(function () { return null; });
    scopes.forEach(function (s, i) {
      var own = adjustments.filter(function (a) { return a.scope === s.scope; });
      var values = times.map(function (t) {
        var after = own.filter(function (a) { return a.at <= t; });
        if (after.length > 0) return after[after.length - 1].to;
        return own.length > 0 ? own[0].from : s.tokenBudget;
      });
      own.forEach(function (a) {
        var at = times.indexOf(a.at);
        if (isCut(a.reason)) cutPoints[at] = a.to;
        else if (isRecovery(a.reason)) recoveryPoints[at] = a.to;
      });
      data.push(values);
      series.push({ label: scopeText(s.scope), stroke: palette[i % palette.length], dash: dashes[i % dashes.length], width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } });
    });
    data.push(cutPoints, recoveryPoints);
    series.push({ label: '▼ cut', stroke: cssVar('--bad'), fill: cssVar('--bad'), paths: function () { return null; }, points: { show: true, size: 9, fill: cssVar('--bad') } });
    series.push({ label: '▲ recovery', stroke: cssVar('--ok'), paths: function () { return null; }, points: { show: true, size: 9, width: 2, fill: cssVar('--panel') } });
    makeChart('budget-chart', series, data, { scales: { x: { time: true, range: [since / 1000, now / 1000] }, y: { range: function (u, min, max) { return [0, Math.max(1, (max || 1) * 1.1)]; } } } });

    var listed = adjustments.slice(-30).reverse().map(function (a) {
      var shape = isCut(a.reason) ? '▼ cut' : isRecovery(a.reason) ? '▲ recovery' : '◆ ' + a.reason;
      return el('li', { text: clock(a.at) + ' ' + shape + ' ' + scopeText(a.scope) + ': ' + num(a.from) + ' → ' + num(a.to) + ' tokens' });
    });
    if (scopes.length === 0) listed = [el('li', { text: 'No token budget in force: the budget follows what the upstream reports.' })];
    replace('budget-events', listed);
  }

  /** Adds what each group refused locally since the last reading to the current minute (the view keeps totals only). */
  function countRefusals(report) {
    var totals = {};
    (report.scopes || []).forEach(function (s) { totals[s.scope] = s.refusals; });
    if (state.refusalTotals !== null) {
      var minute = Math.floor(report.generatedAt / minuteMs) * minuteMs;
      var bucket = state.refusalMinutes.get(minute) || { cooldown: 0, budget: 0 };
      Object.keys(totals).forEach(function (scope) {
        var before = state.refusalTotals[scope] || { cooldown: 0, budget: 0 };
        bucket.cooldown += Math.max(0, totals[scope].cooldown - before.cooldown);
        bucket.budget += Math.max(0, totals[scope].budget - before.budget);
      });
      state.refusalMinutes.set(minute, bucket);
    }
    state.refusalTotals = totals;
  }

  function renderRefusalChart(report) {
    var now = report.generatedAt;
    var since = report.history ? report.history.since : now - 3600000;
    var first = Math.floor(since / minuteMs) * minuteMs;
    var opened = Math.floor(state.openedAt / minuteMs) * minuteMs;
    var minutes = [];
    for (var t = first; t <= now; t += minuteMs) minutes.push(t);
    var upstream = minutes.map(function () { return 0; });
    (report.history ? report.history.upstream429s : []).forEach(function (e) {
      var at = Math.floor((e.at - first) / minuteMs);
      if (at >= 0 && at < upstream.length) upstream[at] += 1;
    });
    var cooldown = minutes.map(function (m) { return m < opened ? null : (state.refusalMinutes.get(m) || { cooldown: 0 }).cooldown; });
    var budget = minutes.map(function (m) { return m < opened ? null : (state.refusalMinutes.get(m) || { budget: 0 }).budget; });
    var data = [minutes.map(function (m) { return m / 1000; }), upstream, cooldown, budget];
    var series = [
      { label: '□ upstream 429s', stroke: cssVar('--bad'), fill: cssVar('--bad-bg'), width: 1.5, paths: uPlot.paths.bars({ size: [0.9, 24], align: 0 }), points: { show: false } },
      { label: '◧ local: cooldown', stroke: cssVar('--warn'), fill: cssVar('--warn'), width: 0, paths: uPlot.paths.bars({ size: [0.45, 12], align: -1 }), points: { show: false } },
      { label: '◨ local: budget', stroke: cssVar('--info'), fill: cssVar('--info'), width: 0, paths: uPlot.paths.bars({ size: [0.45, 12], align: 1 }), points: { show: false } },
    ];
    makeChart('refusals-chart', series, data, { scales: { x: { time: true, range: [(first - minuteMs / 2) / 1000, (now + minuteMs / 2) / 1000] }, y: { range: function (u, min, max) { return [0, Math.max(4, (max || 0) * 1.15)]; } } } });
    var total429 = upstream.reduce(function (a, b) { return a + b; }, 0);
    document.getElementById('refusals-note').textContent =
      total429 + ' upstream 429' + (total429 === 1 ? '' : 's') + ' in the last hour (recorded). Local refusals are counted from ' + clock(state.openedAt) + ', when this page opened.';
  }

  // ---------- the loop ----------

  function renderWhere(report) {
    var upstream = report.upstream && report.upstream.url ? report.upstream.url : 'no upstream recorded';
    replace('where', ['→ ' + upstream + ' · ', el('span', { className: 'mono', text: report.database }), ' · window ' + duration(report.window.lengthMs) + ' · read ' + clock(report.generatedAt)]);
  }

  function setConnection(kind, text) {
    var node = document.getElementById('connection');
    node.dataset.state = kind;
    node.replaceChildren(el('span', { className: 'shape', 'aria-hidden': 'true', text: kind === 'live' ? '●' : kind === 'lost' ? '⚠' : '○' }), ' ', el('span', { className: 'word', text: text }));
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
      .finally(function () { setTimeout(poll, pollMs); });
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
    Object.keys(state.charts).forEach(function (id) { state.charts[id].chart.destroy(); });
    state.charts = {};
    if (state.report) render(state.report);
  });
  setInterval(tickCountdowns, 250);
  poll();
})();
