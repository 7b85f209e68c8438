/* Building elements (text only, never HTML) and saying numbers, durations and times. */
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
  if (minutes < 60) return seconds % 60 === 0 ? minutes + ' min' : minutes + ' min ' + String(seconds % 60).padStart(2, '0') + ' s';
  return Math.floor(minutes / 60) + ' h ' + String(minutes % 60).padStart(2, '0') + ' min';
}

function countdownText(ms) {
  var seconds = Math.max(0, Math.ceil(ms / 1000));
  var minutes = Math.floor(seconds / 60);
  return minutes + ':' + String(seconds % 60).padStart(2, '0');
}

function clock(at) {
  return at === null || at === undefined
    ? '—'
    : new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function serverNow() {
  return Date.now() - state.offsetMs;
}

/** `3f9a1c2b7e04d5a6/claude-haiku` → the model group bold, the key's fingerprint below it. */
function scopeName(scope) {
  var cut = scope.lastIndexOf('/');
  if (cut < 0) return el('span', null, scope);
  return el(
    'span',
    null,
    scope.slice(cut + 1),
    el('span', { className: 'key mono', title: 'key fingerprint (never the key)', text: 'key ' + scope.slice(0, cut) }),
  );
}

function scopeText(scope) {
  var cut = scope.lastIndexOf('/');
  return cut < 0 ? scope : scope.slice(cut + 1) + ' (key ' + scope.slice(0, cut) + ')';
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
