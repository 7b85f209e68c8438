/* The last hour: the budget of each group with its cuts and recoveries; upstream 429s and local refusals per minute. */
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
  var key = series
    .map(function (s) {
      return s.label;
    })
    .join('|');
  if (existing && existing.key === key) {
    existing.chart.setData(data);
    return;
  }
  if (existing) existing.chart.destroy();
  var axis = axisStyle();
  var options = Object.assign(
    {
      width: plotWidth(id),
      height: plotHeight(plotWidth(id)),
      series: [{}].concat(series),
      axes: [Object.assign({}, axis), Object.assign({ size: 60 }, axis)],
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
    },
    extra || {},
  );
  var target = document.getElementById(id);
  target.replaceChildren();
  state.charts[id] = { key: key, chart: new uPlot(options, data, target) };
}

/** Each group's token budget over the hour, rebuilt backwards from today's value through its recorded changes. */
function renderBudgetChart(report) {
  var history = report.history;
  var now = report.generatedAt;
  var since = history ? history.since : now - 3600000;
  var adjustments = history
    ? history.adjustments.filter(function (a) {
        return a.kind === 'tokens';
      })
    : [];
  var scopes = (report.scopes || []).filter(function (s) {
    return (
      s.tokenBudget !== null ||
      adjustments.some(function (a) {
        return a.scope === s.scope;
      })
    );
  });
  scopes.sort(function (a, b) {
    var changed =
      Number(
        adjustments.some(function (x) {
          return x.scope === b.scope;
        }),
      ) -
      Number(
        adjustments.some(function (x) {
          return x.scope === a.scope;
        }),
      );
    return changed || (b.tokenBudget || 0) - (a.tokenBudget || 0);
  });
  scopes = scopes.slice(0, maxBudgetSeries);
  var times = [since, now];
  adjustments.forEach(function (a) {
    times.push(a.at);
  });
  times = Array.from(new Set(times))
    .filter(function (t) {
      return t >= since && t <= now;
    })
    .sort(function (a, b) {
      return a - b;
    });
  var xs = times.map(function (t) {
    return t / 1000;
  });
  var data = [xs];
  var series = [];
  var cutPoints = xs.map(function () {
    return null;
  });
  var recoveryPoints = xs.map(function () {
    return null;
  });
  scopes.forEach(function (s, i) {
    var own = adjustments.filter(function (a) {
      return a.scope === s.scope;
    });
    var values = times.map(function (t) {
      var after = own.filter(function (a) {
        return a.at <= t;
      });
      if (after.length > 0) return after[after.length - 1].to;
      return own.length > 0 ? own[0].from : s.tokenBudget;
    });
    own.forEach(function (a) {
      var at = times.indexOf(a.at);
      if (isCut(a.reason)) cutPoints[at] = a.to;
      else if (isRecovery(a.reason)) recoveryPoints[at] = a.to;
    });
    data.push(values);
    series.push({
      label: scopeText(s.scope),
      stroke: palette[i % palette.length],
      dash: dashes[i % dashes.length],
      width: 2,
      paths: uPlot.paths.stepped({ align: 1 }),
      points: { show: false },
    });
  });
  data.push(cutPoints, recoveryPoints);
  series.push({
    label: '▼ cut',
    stroke: cssVar('--bad'),
    fill: cssVar('--bad'),
    paths: function () {
      return null;
    },
    points: { show: true, size: 9, fill: cssVar('--bad') },
  });
  series.push({
    label: '▲ recovery',
    stroke: cssVar('--ok'),
    paths: function () {
      return null;
    },
    points: { show: true, size: 9, width: 2, fill: cssVar('--panel') },
  });
  makeChart('budget-chart', series, data, {
    scales: {
      x: { time: true, range: [since / 1000, now / 1000] },
      y: {
        range: function (u, min, max) {
          return [0, Math.max(1, (max || 1) * 1.1)];
        },
      },
    },
  });

  var listed = adjustments
    .slice(-30)
    .reverse()
    .map(function (a) {
      var shape = isCut(a.reason) ? '▼ cut' : isRecovery(a.reason) ? '▲ recovery' : '◆ ' + a.reason;
      return el('li', { text: clock(a.at) + ' ' + shape + ' ' + scopeText(a.scope) + ': ' + num(a.from) + ' → ' + num(a.to) + ' tokens' });
    });
  if (scopes.length === 0) listed = [el('li', { text: 'No token budget in force: the budget follows what the upstream reports.' })];
  replace('budget-events', listed);
}

/** Adds what each group refused locally since the last reading to the current minute (the view keeps totals only). */
function countRefusals(report) {
  var totals = {};
  (report.scopes || []).forEach(function (s) {
    totals[s.scope] = s.refusals;
  });
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
  // The serving proxy counts its refusals per minute since it started; elsewhere the page counts them since it opened.
  var live = report.live && Array.isArray(report.live.refusals) ? report.live : null;
  var countedFrom = live ? live.refusalsSince : state.openedAt;
  var opened = Math.floor(countedFrom / minuteMs) * minuteMs;
  var minutes = [];
  for (var t = first; t <= now; t += minuteMs) minutes.push(t);
  var upstream = minutes.map(function () {
    return 0;
  });
  (report.history ? report.history.upstream429s : []).forEach(function (e) {
    var at = Math.floor((e.at - first) / minuteMs);
    if (at >= 0 && at < upstream.length) upstream[at] += 1;
  });
  var local = function (reason) {
    return minutes.map(function (m) {
      if (m < opened) return null;
      if (!live) return (state.refusalMinutes.get(m) || { cooldown: 0, budget: 0 })[reason] || 0;
      return live.refusals.reduce(function (sum, r) {
        var matches = reason === 'other' ? r.reason !== 'cooldown' && r.reason !== 'budget' : r.reason === reason;
        return sum + (r.minute === m && matches ? r.count : 0);
      }, 0);
    });
  };
  var data = [
    minutes.map(function (m) {
      return m / 1000;
    }),
    upstream,
    local('cooldown'),
    local('budget'),
  ];
  var series = [
    {
      label: '□ upstream 429s',
      stroke: cssVar('--bad'),
      fill: cssVar('--bad-bg'),
      width: 1.5,
      paths: uPlot.paths.bars({ size: [0.9, 24], align: 0 }),
      points: { show: false },
    },
    {
      label: '◧ local: cooldown',
      stroke: cssVar('--warn'),
      fill: cssVar('--warn'),
      width: 0,
      paths: uPlot.paths.bars({ size: [0.45, 12], align: -1 }),
      points: { show: false },
    },
    {
      label: '◨ local: budget',
      stroke: cssVar('--info'),
      fill: cssVar('--info'),
      width: 0,
      paths: uPlot.paths.bars({ size: [0.45, 12], align: 1 }),
      points: { show: false },
    },
  ];
  if (live) {
    // Dots only where something happened: a row of zeros would read as events.
    data.push(
      local('other').map(function (count) {
        return count === 0 ? null : count;
      }),
    );
    series.push({
      label: '◆ local: other (probe, store, stopping)',
      stroke: cssVar('--text'),
      paths: function () {
        return null;
      },
      points: { show: true, size: 7, fill: cssVar('--text') },
    });
  }
  makeChart('refusals-chart', series, data, {
    scales: {
      x: { time: true, range: [(first - minuteMs / 2) / 1000, (now + minuteMs / 2) / 1000] },
      y: {
        range: function (u, min, max) {
          return [0, Math.max(4, (max || 0) * 1.15)];
        },
      },
    },
  });
  var total429 = upstream.reduce(function (a, b) {
    return a + b;
  }, 0);
  document.getElementById('refusals-note').textContent =
    total429 +
    ' upstream 429' +
    (total429 === 1 ? '' : 's') +
    ' in the last hour (recorded). Local refusals are counted from ' +
    clock(countedFrom) +
    (live ? ', when this proxy started.' : ', when this page opened.');
}
