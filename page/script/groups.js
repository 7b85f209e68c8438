/* One card per limit group: its state, cooldown countdown, and usage vs budget vs the upstream's report per dimension. */
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
  var node = el(
    'div',
    { className: 'meter', 'aria-hidden': 'true', 'data-level': share >= 1 ? 'full' : share >= 0.8 ? 'high' : 'normal' },
    el('div', { className: 'used' }),
  );
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
  if (metric === 'total' || r.tokens)
    rows.push(['Tokens (in + out)', line.windowTokens, metric === 'total' ? line.tokenBudget : null, r.tokens]);
  var body = [];
  rows.forEach(function (row) {
    var used = row[1] === undefined ? null : row[1];
    var budget = row[2];
    var share = budget ? Math.round((100 * (used || 0)) / budget) + ' % of the budget' : null;
    body.push(
      el(
        'tr',
        null,
        el('th', { scope: 'row', text: row[0] }),
        el('td', { text: num(used), title: share }),
        el('td', { text: num(budget) }),
        el('td', { text: leftText(row[3]) }),
      ),
    );
    var bar = meter(used || 0, budget, row[3] ? row[3].remaining : null);
    if (bar) body.push(el('tr', { className: 'meter-row' }, el('td', { colspan: 4 }, bar)));
  });
  return el(
    'table',
    { className: 'dims' },
    el(
      'thead',
      null,
      el(
        'tr',
        null,
        el('th', { scope: 'col', text: 'Window' }),
        el('th', { scope: 'col', text: 'Used' }),
        el('th', { scope: 'col', text: 'Budget' }),
        el('th', { scope: 'col', text: 'Upstream left' }),
      ),
    ),
    el('tbody', null, body),
  );
}

function groupCard(group, report) {
  var line = group.line;
  var badge = badges[group.condition];
  var label = badge[1] + (group.condition === 'waiting' ? ' (' + group.waiting.length + ')' : '');
  var card = el(
    'article',
    {
      className: 'group',
      'data-scope': line.scope,
      'data-phase': line.phase,
      'data-condition': group.condition,
      'aria-label': scopeText(line.scope) + ': ' + label,
    },
    el(
      'div',
      { className: 'group-head' },
      el('h3', { className: 'group-name' }, scopeName(line.scope)),
      el('span', { className: 'badge', 'data-state': group.condition }, el('span', { 'aria-hidden': 'true', text: badge[0] }), label),
    ),
  );
  if (line.phase === 'cooling') {
    var until = state.receivedAt + line.cooldownRemainingMs;
    card.appendChild(
      el(
        'p',
        { className: 'cooldown' },
        'Cooling: every request is answered locally for ',
        el('span', { className: 'countdown', 'data-until': until, role: 'timer', text: countdownText(line.cooldownRemainingMs) }),
        ' more · ladder level ' +
          line.backoffLevel +
          ' · ' +
          line.consecutive429s +
          ' upstream 429' +
          (line.consecutive429s === 1 ? '' : 's') +
          ' in a row',
      ),
    );
  } else if (line.phase === 'half-open') {
    card.appendChild(
      el('p', {
        className: 'probe',
        text: 'Probing: one request goes to the upstream first; the others wait for its answer (ladder level ' + line.backoffLevel + ').',
      }),
    );
  }
  card.appendChild(dimensionRows(group, report.window ? report.window.tokenMetric : 'total'));
  var facts = [];
  if (group.waiting) facts.push(group.waiting.length + ' waiting, oldest ' + duration(group.waiting.oldestWaitMs));
  facts.push('refused locally: ' + num(line.refusals.cooldown) + ' in cooldown, ' + num(line.refusals.budget) + ' for budget');
  card.appendChild(
    el(
      'p',
      { className: 'facts' },
      facts.map(function (f) {
        return el('span', { text: f });
      }),
    ),
  );
  return card;
}

function renderGroups(report, groups) {
  if (groups.length === 0) {
    replace('groups', el('p', { className: 'empty', text: 'No limit group has seen traffic in the last hour.' }));
    return;
  }
  replace(
    'groups',
    groups.map(function (g) {
      return groupCard(g, report);
    }),
  );
}
