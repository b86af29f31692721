// The playground page: a form for one request and a configuration, the results of the meshlens
// core (compiled to WebAssembly by wasm-bindgen) beside it. Everything shown is text from the core;
// it is put into the page with textContent only, never as HTML: shared links and pasted values are
// hostile input like any request.

import init, { validate, simulate, presets, defaultConfig, version } from './pkg/meshlens_playground.js';

const $ = (id) => document.getElementById(id);
const FRAGMENT_PREFIX = '#v1.';
const SPAN_KINDS = { 1: 'INTERNAL', 2: 'SERVER', 3: 'CLIENT', 4: 'PRODUCER', 5: 'CONSUMER' };
const STATUS_CODES = { 0: 'UNSET', 1: 'OK', 2: 'ERROR' };

let sampleConfig = '';
let presetList = [];
let pending = 0;

/** Creates an element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('data-')) node.setAttribute(key, String(value));
    else if (key === 'style') node.setAttribute('style', value);
    else node[key] = value;
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(id, ...nodes) {
  $(id).replaceChildren(...nodes.flat().filter((n) => n));
}

// ---------------------------------------------------------------- form <-> simulation input

/** `name: value` lines -> [[name, value]]; a pseudo-header's leading colon is part of its name. */
function parseHeaders(text, what) {
  const out = [];
  const errors = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const colon = line.indexOf(':', line.startsWith(':') ? 1 : 0);
    if (colon <= 0) {
      errors.push(`${what}, line ${i + 1}: expected "name: value", got "${line}"`);
      return;
    }
    out.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
  });
  return { headers: out, errors };
}

function formatHeaders(headers) {
  return (headers || []).map(([k, v]) => `${k}: ${v}`).join('\n');
}

/** `path = value` lines -> {path: value}; a value that is an integer becomes a number. */
function parseProperties(text) {
  const out = {};
  const errors = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const eq = line.indexOf('=');
    if (eq <= 0) {
      errors.push(`Envoy attributes, line ${i + 1}: expected "path = value", got "${line}"`);
      return;
    }
    const value = line.slice(eq + 1).trim();
    out[line.slice(0, eq).trim()] = /^-?\d+$/.test(value) ? Number(value) : value;
  });
  return { properties: out, errors };
}

function number(id, what, errors) {
  const text = $(id).value.trim();
  if (text === '') return 0;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    errors.push(`${what}: "${text}" is not a whole number`);
    return 0;
  }
  return n;
}

/** The simulation input the form describes, and what in the form cannot be read. */
function readForm() {
  const errors = [];
  const request = parseHeaders($('request-headers').value, 'Request headers');
  const response = parseHeaders($('response-headers').value, 'Response headers');
  const trailers = parseHeaders($('trailers').value, 'Trailers');
  const props = parseProperties($('properties').value);
  errors.push(...request.errors, ...response.errors, ...trailers.errors, ...props.errors);
  const client = $('client-address').value.trim();
  if (client) props.properties['source.address'] = client;
  const input = {
    config: $('config').value,
    request: {
      method: $('method').value,
      scheme: $('scheme').value,
      authority: $('authority').value.trim(),
      path: $('path').value.trim() || '/',
      headers: request.headers,
      body_bytes: number('request-body', 'Request body bytes', errors),
    },
    response: {
      status: number('status', 'Status', errors),
      headers: response.headers,
      body_bytes: number('response-body', 'Response body bytes', errors),
      latency_ms: number('latency', 'Latency', errors),
      from_upstream: $('from-upstream').checked,
      trailers: $('trailers').value.trim() ? trailers.headers : null,
    },
    properties: props.properties,
  };
  return { input, errors };
}

/** Fills the form from a simulation input (a preset's, or a shared link's). */
function fillForm(input) {
  const request = input.request || {};
  const response = input.response || {};
  const properties = { ...(input.properties || {}) };
  setSelect('method', request.method || 'GET');
  setSelect('scheme', request.scheme || 'http');
  $('authority').value = request.authority || '';
  $('path').value = request.path || '/';
  $('request-headers').value = formatHeaders(request.headers);
  $('request-body').value = request.body_bytes || 0;
  $('client-address').value = properties['source.address'] || '';
  delete properties['source.address'];
  $('status').value = response.status ?? 200;
  $('latency').value = response.latency_ms ?? 0;
  $('from-upstream').checked = response.from_upstream ?? true;
  $('response-headers').value = formatHeaders(response.headers);
  $('response-body').value = response.body_bytes || 0;
  $('trailers').value = formatHeaders(response.trailers);
  $('properties').value = Object.entries(properties).map(([k, v]) => `${k} = ${v}`).join('\n');
  $('config').value = input.config ?? sampleConfig;
}

function setSelect(id, value) {
  const select = $(id);
  if (![...select.options].some((o) => o.value === value)) select.append(el('option', {}, value));
  select.value = value;
}

// ---------------------------------------------------------------- share links

function encodeFragment(input) {
  const shared = { ...input };
  if (shared.config === sampleConfig) delete shared.config;
  const bytes = new TextEncoder().encode(JSON.stringify(shared));
  let binary = '';
  bytes.forEach((b) => { binary += String.fromCharCode(b); });
  return FRAGMENT_PREFIX + btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decodeFragment(hash) {
  const coded = hash.slice(FRAGMENT_PREFIX.length).replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(coded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  const input = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new Error('not an object');
  return input;
}

// ---------------------------------------------------------------- rendering

function renderConfigStatus(validation) {
  const box = $('config-status');
  $('config').classList.toggle('invalid', !validation.ok);
  if (validation.ok) {
    box.className = 'ok';
    box.removeAttribute('data-path');
    box.replaceChildren(el('span', { class: 'mark' }, '✓'), ' The module accepts this configuration.');
    return;
  }
  const e = validation.error;
  box.className = 'error';
  box.setAttribute('data-path', e.path);
  box.replaceChildren(
    el('span', { class: 'mark' }, '✗'), ' ',
    e.path ? el('code', { class: 'path' }, e.path) : null, e.path ? ': ' : null,
    el('span', { class: 'message' }, e.message),
    el('div', { class: 'muted small' }, 'The module refuses it and logs: ', el('code', { class: 'log' }, e.log)),
  );
}

function ruleText(reason) {
  switch (reason.rule) {
    case 'route_always': return "the route's rule: always";
    case 'route_never': return "the route's rule: never";
    case 'parent': return "the caller's sampled flag";
    case 'route_ratio': return `the route's ratio ${reason.ratio}`;
    case 'default_ratio': return `the default ratio ${reason.ratio}`;
    default: return reason.rule;
  }
}

function renderDecision(d) {
  if (!d) {
    show('decision', el('p', { class: 'muted' }, 'Tracing is off in this configuration: no trace decision.'));
    return;
  }
  const box = $('decision');
  for (const [k, v] of Object.entries({ trace: d.trace, sampled: d.sampled, rule: d.reason.rule, extracted: d.extracted || 'none' })) {
    box.setAttribute(`data-${k}`, String(v));
  }
  const from = d.extracted ? ` from ${d.extracted === 'tracecontext' ? 'traceparent' : d.extracted}` : '';
  box.replaceChildren(
    el('p', { class: 'headline' },
      el('span', { class: `pill ${d.trace}` }, `trace ${d.trace}${d.trace === 'continued' ? from : ''}`), ' ',
      el('span', { class: `pill ${d.sampled ? 'sampled' : 'unsampled'}` }, d.sampled ? 'sampled' : 'not sampled'),
      ' by ', ruleText(d.reason)),
    el('p', { class: 'explanation' }, d.explanation),
    el('dl', { class: 'facts' },
      el('dt', {}, 'trace id'), el('dd', {}, el('code', { class: 'trace-id' }, d.trace_id)),
      el('dt', {}, 'span id'), el('dd', {}, el('code', {}, d.span_id)),
      el('dt', {}, 'edge policy'), el('dd', {}, d.edge_policy),
      el('dt', {}, 'invalid context seen'), el('dd', {}, d.invalid_context ? 'yes' : 'no'),
      el('dt', {}, 'tracestate'), el('dd', {}, d.tracestate.replace('_', ' ')),
    ),
  );
}

/** A header table marking what the filter added, changed and removed against `before`. */
function headerTable(after, before) {
  const was = new Map(before.map(([k, v]) => [k, v]));
  const now = new Set(after.map(([k]) => k));
  const rows = after.map(([k, v]) => {
    const change = !was.has(k) ? 'added' : was.get(k) !== v ? 'changed' : '';
    return el('tr', { class: change, 'data-name': k },
      el('td', { class: 'name' }, k), el('td', { class: 'value' }, v), el('td', { class: 'change' }, change));
  });
  for (const [k, v] of before) {
    if (!now.has(k)) {
      rows.push(el('tr', { class: 'removed', 'data-name': k },
        el('td', { class: 'name' }, k), el('td', { class: 'value' }, v), el('td', { class: 'change' }, 'removed')));
    }
  }
  return el('table', { class: 'headers' }, el('tbody', {}, rows));
}

function requestBefore(input) {
  const r = input.request;
  return [[':method', r.method], [':path', r.path], [':scheme', r.scheme], [':authority', r.authority], ...r.headers];
}

function attributeValue(v) {
  if (!v) return '';
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return String(v.intValue);
  if ('doubleValue' in v) return String(v.doubleValue);
  if ('boolValue' in v) return String(v.boolValue);
  if ('arrayValue' in v) return JSON.stringify((v.arrayValue.values || []).map(attributeValue));
  return JSON.stringify(v);
}

function renderSpans(spans) {
  if (!spans.length) {
    show('spans', el('p', { class: 'muted' }, 'No span exported: the request was not sampled (or tracing is off).'));
    return;
  }
  const starts = spans.map((s) => BigInt(s.startTimeUnixNano));
  const ends = spans.map((s) => BigInt(s.endTimeUnixNano));
  const t0 = starts.reduce((a, b) => (b < a ? b : a));
  const t1 = ends.reduce((a, b) => (b > a ? b : a));
  const total = Number(t1 - t0) || 1;
  const rows = spans.map((s, i) => {
    const kind = SPAN_KINDS[s.kind] || String(s.kind);
    const status = STATUS_CODES[s.status?.code ?? 0] || String(s.status?.code);
    const duration = Number(ends[i] - starts[i]);
    const left = (Number(starts[i] - t0) / total) * 100;
    const width = Math.max((duration / total) * 100, 0.3);
    return el('div', { class: 'span-row' },
      el('div', { class: 'span-label' }, el('strong', {}, s.name), ` ${kind} · ${(duration / 1e6).toFixed(2)} ms · ${status}`),
      el('div', { class: 'span-track' },
        el('div', {
          class: `span-bar ${kind.toLowerCase()} ${status === 'ERROR' ? 'error' : ''}`,
          style: `left:${left}%;width:${width}%`,
          'data-span-id': s.spanId, 'data-kind': kind, 'data-duration-ns': duration, 'data-status': status,
          title: `${s.name}: ${(duration / 1e6).toFixed(3)} ms`,
        })));
  });
  const details = spans.map((s) => el('details', { class: 'span-detail' },
    el('summary', {}, `${SPAN_KINDS[s.kind] || s.kind} span ${s.spanId}: ${(s.attributes || []).length} attributes`),
    el('table', { class: 'attributes' }, el('tbody', {},
      (s.attributes || []).map((a) => el('tr', { 'data-key': a.key },
        el('td', { class: 'name' }, a.key), el('td', { class: 'value' }, attributeValue(a.value)))))),
    el('pre', { class: 'json' }, JSON.stringify(s, null, 2))));
  show('spans', el('div', { class: 'waterfall' }, rows), details);
}

function renderAccessLog(lines) {
  if (!lines.length) {
    show('access-log', el('p', { class: 'muted' }, 'No line: the access log is off, sampled out, or below the proxy log level.'));
    return;
  }
  show('access-log', lines.map((line) => {
    let fields = null;
    try { fields = JSON.parse(line); } catch { /* shown raw */ }
    return el('div', { class: 'access-entry' },
      el('pre', { class: 'access-line' }, line),
      fields && typeof fields === 'object' ? el('table', { class: 'fields' }, el('tbody', {},
        Object.entries(fields).map(([k, v]) => el('tr', { 'data-field': k },
          el('td', { class: 'name' }, k), el('td', { class: 'value' }, typeof v === 'string' ? v : JSON.stringify(v)))))) : null);
  }));
}

/** `name;k=v;k=v` (the stat name Envoy receives) -> {name, labels: [[k, v]]}. */
function parseSeries(series) {
  const [name, ...rest] = series.split(';');
  return { name, labels: rest.map((l) => { const eq = l.indexOf('='); return [l.slice(0, eq), l.slice(eq + 1)]; }) };
}

/** Changed series, a histogram's `_bucket`, `_sum` and `_count` series folded into one row. */
function metricRows(metrics) {
  const rows = new Map();
  for (const m of metrics.filter((x) => x.delta !== 0)) {
    const { name, labels } = parseSeries(m.name);
    const le = labels.find(([k]) => k === 'le');
    const base = name.replace(/_(bucket|sum|count)$/, '');
    const histogram = (name.endsWith('_bucket') && le) || ((name.endsWith('_sum') || name.endsWith('_count')) && rows.has(`${base}|${JSON.stringify(labels)}`));
    if (!histogram) {
      rows.set(m.name, { name, labels, kind: m.kind, change: m.kind === 'gauge' ? `= ${m.value}` : `+${m.delta}`, series: [m.name] });
      continue;
    }
    const rest = labels.filter(([k]) => k !== 'le');
    const key = `${base}|${JSON.stringify(rest)}`;
    const row = rows.get(key) || { name: base, labels: rest, kind: 'histogram', buckets: [], series: [] };
    row.series.push(m.name);
    if (le) row.buckets.push([le[1], m.delta]);
    rows.set(key, row);
  }
  for (const row of rows.values()) {
    if (row.kind !== 'histogram') continue;
    // Buckets are cumulative: the observation fell in the smallest bucket that grew.
    const grew = row.buckets.filter(([, d]) => d > 0).map(([le]) => le)
      .sort((a, b) => (a === '+Inf' ? 1 : b === '+Inf' ? -1 : Number(a) - Number(b)));
    const count = Math.max(0, ...row.buckets.map(([, d]) => d));
    row.change = grew.length ? `+${count} in le=${grew[0]}` : `+${count}`;
  }
  return [...rows.values()];
}

function renderMetrics(metrics) {
  const rows = metricRows(metrics);
  if (!rows.length) {
    show('metrics', el('p', { class: 'muted' }, 'No metric changed.'));
    return;
  }
  show('metrics', el('table', { class: 'metrics' },
    el('thead', {}, el('tr', {}, el('th', {}, 'series'), el('th', {}, 'labels'), el('th', {}, 'kind'), el('th', {}, 'change'))),
    el('tbody', {}, rows.map((r) => el('tr', { 'data-series': r.series.join(' ') },
      el('td', { class: 'name' }, r.name),
      el('td', { class: 'labels' }, r.labels.map(([k, v]) => el('span', { class: 'label' }, `${k}=${v}`))),
      el('td', {}, r.kind), el('td', { class: 'num' }, r.change))))));
}

function renderRedactions(redactions) {
  show('redactions', redactions.length
    ? el('ul', { class: 'redactions' }, redactions.map((r) => el('li', { 'data-kind': r.kind }, `${r.kind}: ${r.count}`)))
    : el('p', { class: 'muted' }, 'Nothing redacted.'));
}

function renderLogs(logs) {
  show('module-log', logs.length
    ? el('ul', { class: 'logs' }, logs.map((l) => el('li', { class: l.level }, el('span', { class: 'level' }, l.level), ' ', l.message)))
    : el('p', { class: 'muted' }, 'Nothing logged.'));
}

function renderResults(input, out) {
  const error = out.input_error || (out.config_error && `The module refuses this configuration (${out.config_error.path || 'config'}), so Envoy would not load it: nothing ran. Greyed below: the results of the last accepted one.`);
  $('result-error').hidden = !error;
  $('result-error').textContent = error || '';
  $('results').classList.toggle('stale', Boolean(error));
  if (error) return;
  renderDecision(out.decision);
  show('upstream-headers', out.upstream_request_headers
    ? headerTable(out.upstream_request_headers, requestBefore(input))
    : el('p', { class: 'muted' }, 'Nothing: the proxy replied itself, the request never reached an upstream.'));
  const responseBefore = [[':status', String(input.response.status)], ...input.response.headers];
  show('downstream-headers', headerTable(out.downstream_response_headers, responseBefore));
  renderSpans(out.spans);
  renderAccessLog(out.access_log);
  renderMetrics(out.metrics);
  renderRedactions(out.redactions);
  renderLogs(out.logs);
}

// ---------------------------------------------------------------- the loop

function run() {
  const { input, errors } = readForm();
  const t = performance.now();
  const validation = JSON.parse(validate(input.config));
  renderConfigStatus(validation);
  if (errors.length) {
    $('result-error').hidden = false;
    $('result-error').textContent = errors.join('\n');
    $('results').classList.add('stale');
    return;
  }
  const out = JSON.parse(simulate(JSON.stringify(input)));
  renderResults(input, out);
  $('timing').textContent = `Page ready in ${document.body.dataset.loadMs || '…'} ms; this simulation took ${(performance.now() - t).toFixed(1)} ms.`;
}

function schedule() {
  clearTimeout(pending);
  pending = setTimeout(run, 120);
}

function selectPreset(preset) {
  fillForm({ ...preset.input, config: preset.input.config ?? sampleConfig });
  for (const b of document.querySelectorAll('#presets button')) b.classList.toggle('active', b.dataset.preset === preset.id);
  $('preset-description').textContent = preset.description;
  run();
}

async function main() {
  await init();
  sampleConfig = defaultConfig();
  presetList = JSON.parse(presets());
  $('version').textContent = `meshlens ${version()}`;
  show('presets', presetList.map((p) => {
    const b = el('button', { type: 'button', class: 'preset', 'data-preset': p.id, title: p.description }, p.name);
    b.addEventListener('click', () => selectPreset(p));
    return b;
  }));
  let shared = null;
  if (location.hash.startsWith(FRAGMENT_PREFIX)) {
    try {
      shared = decodeFragment(location.hash);
    } catch (e) {
      const banner = $('load-error');
      banner.hidden = false;
      banner.textContent = `This link's request could not be read (${e.message}); showing the first example instead.`;
    }
  }
  if (shared) {
    fillForm(shared);
    $('preset-description').textContent = 'A shared request.';
    run();
  } else {
    selectPreset(presetList[0]);
  }
  for (const node of document.querySelectorAll('#inputs input, #inputs textarea, #inputs select')) {
    if (node.id !== 'share-url') node.addEventListener('input', schedule);
  }
  $('config-reset').addEventListener('click', () => { $('config').value = sampleConfig; run(); });
  $('config-format').addEventListener('click', () => {
    try { $('config').value = JSON.stringify(JSON.parse($('config').value), null, 2); run(); } catch { /* the status says why */ }
  });
  $('share').addEventListener('click', () => {
    const { input } = readForm();
    const fragment = encodeFragment(input);
    history.replaceState(null, '', fragment);
    $('share-url').value = location.href;
    $('share-url').select();
    navigator.clipboard?.writeText(location.href).then(() => { $('share').textContent = 'Link copied'; }, () => {});
  });
  // Since navigation start: the page, the module and the first simulation, shown.
  document.body.dataset.loadMs = performance.now().toFixed(0);
  document.body.dataset.ready = 'true';
  run();
}

main().catch((e) => {
  const banner = $('load-error');
  banner.hidden = false;
  banner.textContent = `The playground could not start: ${e.message || e}`;
  console.error(e);
});
