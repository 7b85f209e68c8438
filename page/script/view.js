/* Reading the status view: the queue, and each group's condition, trouble first. */
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
      var waiting =
        queue.find(function (q) {
          return q.scope === line.scope;
        }) || null;
      var adjustments = history.adjustments.filter(function (a) {
        return a.scope === line.scope && a.kind === 'tokens';
      });
      var last = adjustments[adjustments.length - 1];
      var cut = last !== undefined && isCut(last.reason);
      var reported = {};
      (history.reported || []).forEach(function (r) {
        if (r.scope === line.scope) reported[r.dimension] = r;
      });
      var condition = line.phase !== 'closed' ? line.phase : waiting && waiting.length > 0 ? 'waiting' : cut ? 'cut' : 'flowing';
      return { line: line, index: index, waiting: waiting, cut: cut, reported: reported, condition: condition };
    })
    .sort(function (a, b) {
      return rank[a.condition] - rank[b.condition] || a.index - b.index;
    });
}
