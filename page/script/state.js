/* The page's settings and the state kept between readings. */
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
