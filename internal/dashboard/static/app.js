// sagequeue dashboard: a single-page app over the API of its own origin
// (POST v1/<operation> with JSON). It only reads. Views live in the URL's
// fragment: #/ (overview), #/jobs?queue=&status=&share=&name= (job list),
// #/jobs/<id> (a job), #/queues/<name> (a queue: front and shares).
'use strict';

const STATES = ['SUBMITTED', 'RUNNABLE', 'SCHEDULED', 'STARTING', 'RUNNING', 'SUCCEEDED', 'FAILED'];
const ACTIVE = new Set(['SCHEDULED', 'STARTING', 'RUNNING']);
const TERMINAL = new Set(['SUCCEEDED', 'FAILED']);
const REFRESH_MS = 2000;
const LOG_POLL_MS = 1000;
const LOG_TAIL = 500; // lines shown when a log is opened
const LOG_KEEP = 5000; // lines kept on the page
const PAGE_SIZE = 25;
// WINDOWS are the utilization chart's windows and their periods (seconds).
const WINDOWS = [['15 min', 15 * 60e3, 10], ['1 hour', 60 * 60e3, 30], ['6 hours', 6 * 60 * 60e3, 180], ['24 hours', 24 * 60 * 60e3, 720]];

const $main = document.getElementById('main');
const $auto = document.getElementById('auto');
const $updated = document.getElementById('updated');
const $error = document.getElementById('error');
const $who = document.getElementById('who');

// Answers a logged-out, expired or unknown dashboard session gets from a
// server with authentication (sagequeue serve --auth-file).
const LOGGED_OUT = new Set(['MissingAuthenticationTokenException', 'ExpiredTokenException', 'UnrecognizedClientException']);

// ---- the API ----

async function api(op, body) {
  const res = await fetch('v1/' + op, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body || {}), cache: 'no-store',
  });
  let data = null;
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  showUser(res.headers.get('X-Sagequeue-User'));
  if (res.status === 403 && data && LOGGED_OUT.has(data.__type)) {
    // Back to the login page, which returns here afterwards.
    location.assign('login?next=' + encodeURIComponent(location.hash));
  }
  if (!res.ok) {
    const err = new Error((data && data.message) || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return data;
}

// showUser shows who is logged in, when the server has logins.
function showUser(name) {
  if (!name) return;
  document.getElementById('who-name').textContent = name;
  $who.hidden = false;
}

document.getElementById('logout').addEventListener('click', async () => {
  try { await fetch('logout', { method: 'POST', cache: 'no-store' }); } finally { location.assign('login'); }
});

// ---- DOM helpers: text only, never HTML ----

function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

function s(tag, attrs, ...children) {
  return build(document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'data') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// ---- formatting ----

const pad = (n) => String(n).padStart(2, '0');

function fmtTime(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return t;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}`;
}

function timeEl(ms) {
  return ms ? h('time', { datetime: new Date(ms).toISOString(), title: new Date(ms).toString() }, fmtTime(ms)) : '—';
}

function fmtDur(ms) {
  if (ms == null || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  let sec = Math.round(ms / 1000);
  if (sec < 60) return `${sec} s`;
  let min = Math.floor(sec / 60); sec %= 60;
  if (min < 60) return sec ? `${min} min ${sec} s` : `${min} min`;
  const hr = Math.floor(min / 60); min %= 60;
  if (hr < 48) return min ? `${hr} h ${min} min` : `${hr} h`;
  return `${Math.floor(hr / 24)} d ${hr % 24} h`;
}

const ago = (ms) => (ms ? fmtDur(Date.now() - ms) + ' ago' : '—');
const nameOf = (arn) => (arn ? arn.slice(arn.lastIndexOf('/') + 1) : '');
// The end of a job id: its start is a timestamp (UUIDv7), the same for jobs submitted together.
const shortId = (id) => (id ? '…' + id.slice(-8) : '');
const fmtNum = (n) => (Number.isInteger(n) ? String(n) : n.toFixed(2));
const stateLabel = (st) => st.charAt(0) + st.slice(1).toLowerCase();
const badge = (st, extra) => h('span', { class: `badge ${st}${extra ? ' ' + extra : ''}`, title: st }, st);

function jobsHref(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const qs = q.toString();
  return '#/jobs' + (qs ? '?' + qs : '');
}

const jobHref = (id) => '#/jobs/' + encodeURIComponent(id);
const queueHref = (name) => '#/queues/' + encodeURIComponent(name);

// ---- routing and the refresh loop ----

let current = null;
let generation = 0;

function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = hash.split('?');
  const params = new URLSearchParams(qs || '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { nav: 'overview', view: overviewView };
  if (parts[0] === 'jobs' && parts.length === 1) return { nav: 'jobs', view: jobListView, params };
  if (parts[0] === 'jobs' && parts.length === 2) return { nav: 'jobs', view: jobView, id: parts[1] };
  if (parts[0] === 'queues' && parts.length === 2) return { nav: 'overview', view: queueView, name: parts[1] };
  return { nav: '', view: notFoundView };
}

function mount() {
  if (current && current.stop) current.stop();
  const gen = ++generation;
  const r = route();
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.nav === r.nav);
  $main.replaceChildren();
  window.scrollTo(0, 0);
  current = r.view(r, () => gen === generation) || {};
  current.alive = () => gen === generation;
  refresh();
}

// refresh runs the current view's refresh once at a time.
async function refresh() {
  const view = current;
  if (!view || !view.refresh || view.busy) return;
  view.busy = true;
  document.body.classList.add('loading');
  try {
    await view.refresh();
    if (view.alive()) ok();
  } catch (err) {
    if (view.alive()) fail(err);
  } finally {
    view.busy = false;
    document.body.classList.remove('loading');
  }
}

let refreshes = 0;

function ok() {
  $error.hidden = true;
  document.body.classList.remove('offline');
  $updated.textContent = 'updated ' + fmtTime(Date.now());
  document.body.dataset.refreshes = String(++refreshes);
}

function fail(err) {
  $error.hidden = false;
  const offline = !err.status;
  $error.textContent = offline ? `Cannot reach the sagequeue server: ${err.message}. Retrying…` : `The server refused a request: ${err.message}`;
  document.body.classList.toggle('offline', offline);
  $updated.textContent = 'failed at ' + fmtTime(Date.now());
}

setInterval(() => { if ($auto.checked && !document.hidden) refresh(); }, REFRESH_MS);
$auto.addEventListener('change', () => { if ($auto.checked) refresh(); });
document.addEventListener('visibilitychange', () => { if (!document.hidden && $auto.checked) refresh(); });
window.addEventListener('hashchange', mount);

// ---- overview ----

// counts remembers the last count shown per queue and state, to flash the
// ones that changed.
const lastCounts = new Map();

function countLink(queue, st, n, capped) {
  const key = queue + '/' + st;
  const prev = lastCounts.get(key);
  lastCounts.set(key, n);
  return h('a', {
    class: 'count' + (n === 0 ? ' zero' : '') + (prev !== undefined && prev !== n ? ' flash' : ''),
    href: jobsHref({ queue, status: st }), data: { queue, status: st, count: String(n) },
    title: `${capped ? 'at least ' : ''}${n} ${st} job${n === 1 ? '' : 's'} in ${queue}`,
  }, String(n) + (capped ? '+' : ''));
}

function overviewView() {
  const tbody = h('tbody');
  const note = h('p', { class: 'note' });
  const envBox = h('div', { class: 'envs' });
  const planBox = h('div', { class: 'envs' });
  const planSection = h('section', { id: 'plans', hidden: true },
    h('h2', null, 'Training plans'),
    h('p', { class: 'hint' }, 'The windows in which each SageMaker training plan offers its instances (the hatched end is the last 30 minutes, when SageMaker takes them back), and the instances sagequeue\'s jobs held against what the plan gave.'),
    planBox);
  const charts = chartPanel();
  $main.append(
    h('h1', null, 'Overview'),
    h('section', null,
      h('h2', null, 'Job queues'),
      h('p', { class: 'hint' }, 'Jobs per queue and state. Each number opens the list of those jobs; a queue\'s name shows the front of the queue and, for fair-share queues, the use of each share.'),
      h('div', { class: 'scroll' }, h('table', { id: 'queues' },
        h('thead', null, h('tr', null, h('th', null, 'Queue'), h('th', null, 'Scheduling'), h('th', { class: 'num' }, 'Priority'),
          STATES.map((st) => h('th', { class: 'num' }, st)))),
        tbody)),
      note),
    h('section', null,
      h('h2', null, 'Service environments'),
      h('p', { class: 'hint' }, 'Instances held by scheduled, starting and running jobs, against each environment\'s capacity, now and over time.'),
      charts.toolbar,
      envBox),
    planSection);
  const envCards = new Map();
  return {
    async refresh() {
      const d = await api('getdashboard', {});
      tbody.replaceChildren(...d.jobQueues.map((q) => h('tr', { data: { queue: q.jobQueueName } },
        h('td', null, h('a', { href: queueHref(q.jobQueueName) }, h('b', null, q.jobQueueName)),
          q.state === 'DISABLED' ? [' ', h('span', { class: 'badge plain' }, 'DISABLED')] : null),
        h('td', null, queueKind(q)),
        h('td', { class: 'num' }, q.priority),
        STATES.map((st) => h('td', { class: 'num' }, countLink(q.jobQueueName, st, q.jobCounts[st] || 0, q.cappedCounts.includes(st)))))));
      if (d.jobQueues.length === 0) {
        tbody.replaceChildren(h('tr', null, h('td', { class: 'empty', colspan: 3 + STATES.length },
          'No job queues yet. Create one with `sagequeue queue create` or a --config file.')));
      }
      note.textContent = `RUNNABLE, SCHEDULED, STARTING and RUNNING are exact. SUCCEEDED and FAILED count the jobs submitted in the last ${fmtDur(d.recentSeconds * 1000)}, and SUBMITTED, SUCCEEDED and FAILED stop counting at ${d.countLimit} (shown as ${d.countLimit}+).`;
      updateEnvCards(envBox, envCards, d.serviceEnvironments);
      const u = await charts.update(envCards);
      if (d.serviceEnvironments.some((e) => e.trainingPlanArn)) {
        const p = await api('describetrainingplans', {});
        planSection.hidden = p.trainingPlans.length === 0;
        planBox.replaceChildren(...p.trainingPlans.map((plan) => planCard(plan, u)));
      } else {
        planSection.hidden = true;
      }
    },
  };
}

// ---- training plans ----

function planCard(p, u) {
  const status = p.status || 'UNKNOWN';
  const next = p.windowEnd ? `open until ${fmtTime(p.windowEnd)}` : p.nextWindowStart ? `next window opens ${fmtTime(p.nextWindowStart)}` : 'no more windows';
  return h('div', { class: 'env plan', data: { plan: p.trainingPlanName } },
    h('div', { class: 'env-head' },
      h('b', null, p.trainingPlanName, ' ', h('span', { class: 'badge plain', title: 'the plan\'s status' }, status)),
      h('span', { class: 'env-use' }, h('b', null, p.instancesInUse), ` / ${p.capacityNow} instances in use now`,
        h('span', { class: 'hint' }, ` · ${(p.instanceTypes || []).join(', ')} · ${next}`))),
    p.error ? h('p', { class: 'error-note' }, p.error) : null,
    h('div', { class: 'chart-box' }, planTimeline(p, u)),
    h('div', { class: 'legend' },
      h('span', null, h('i', { class: 'l-win' }), 'plan window'),
      h('span', null, h('i', { class: 'l-avg' }), 'average in use'),
      h('span', null, h('i', { class: 'l-peak' }), 'peak in use')));
}

// planTimeline draws a plan's windows over the utilization chart's time
// span and as far again ahead, with the plan's environments' use until now.
function planTimeline(p, u) {
  const W = 900, H = 150, L = 34, R = 10, T = 10, B = 22;
  const now = Date.now();
  const start = u ? u.startTime : now - 3600e3;
  const end = now + (now - start) / 2;
  const envs = new Set((p.serviceEnvironments || []).map((e) => e.serviceEnvironmentName));
  const series = u ? u.serviceEnvironments.filter((e) => envs.has(e.serviceEnvironmentName)) : [];
  const n = u ? u.timestamps.length : 0;
  const avg = [], peak = [];
  for (let i = 0; i < n; i++) {
    avg.push(series.reduce((a, e) => a + e.average[i], 0));
    peak.push(series.reduce((a, e) => a + e.peak[i], 0));
  }
  const windows = (p.windows || []).filter((w) => w.endTime > start && w.startTime < end);
  const maxY = Math.max(1, ...windows.map((w) => w.instances), ...peak);
  const x = (t) => L + ((Math.min(Math.max(t, start), end) - start) / (end - start)) * (W - L - R);
  const y = (v) => T + (1 - v / maxY) * (H - T - B);
  const svg = s('svg', { class: 'chart timeline', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `windows and use of training plan ${p.trainingPlanName}` });
  for (const v of niceTicks(maxY)) {
    svg.append(s('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }), s('text', { x: L - 6, y: y(v) + 3, 'text-anchor': 'end' }, v));
  }
  for (const w of windows) {
    svg.append(
      s('rect', { class: 'pwin', x: x(w.startTime), y: y(w.instances), width: Math.max(0.5, x(w.usableUntil) - x(w.startTime)), height: y(0) - y(w.instances) },
        s('title', null, `${fmtTime(w.startTime)} to ${fmtTime(w.endTime)}: ${w.instances} instances, usable until ${fmtTime(w.usableUntil)}`)),
      s('rect', { class: 'preclaim', x: x(w.usableUntil), y: y(w.instances), width: Math.max(0, x(w.endTime) - x(w.usableUntil)), height: y(0) - y(w.instances) }));
  }
  if (n > 0) {
    const tEnd = (i) => (i + 1 < n ? u.timestamps[i + 1] : u.endTime);
    let area = `M${x(u.startTime)},${y(0)}`, line = '';
    for (let i = 0; i < n; i++) {
      area += `L${x(u.timestamps[i])},${y(avg[i])}L${x(tEnd(i))},${y(avg[i])}`;
      line += `${i ? 'L' : 'M'}${x(u.timestamps[i])},${y(peak[i])}L${x(tEnd(i))},${y(peak[i])}`;
    }
    area += `L${x(u.endTime)},${y(0)}Z`;
    svg.append(s('path', { class: 'avg', d: area }), s('path', { class: 'peak', d: line }));
  }
  svg.append(s('line', { class: 'now', x1: x(now), x2: x(now), y1: T, y2: H - B }));
  for (const [t, label, anchor] of [[start, fmtTime(start).slice(-8, -3), 'start'], [now, 'now', 'middle'], [end, fmtTime(end).slice(-8, -3), 'end']]) {
    svg.append(s('text', { x: x(t), y: H - 6, 'text-anchor': anchor }, label));
  }
  return svg;
}

function updateEnvCards(box, cards, envs) {
  const seen = new Set();
  for (const e of envs) {
    seen.add(e.serviceEnvironmentName);
    let c = cards.get(e.serviceEnvironmentName);
    if (!c) {
      c = { use: h('span', { class: 'env-use' }), state: h('span'), fill: h('div'), meter: null, chart: h('div', { class: 'chart-box' }) };
      c.meter = h('div', { class: 'meter' }, c.fill);
      c.el = h('div', { class: 'env', data: { env: e.serviceEnvironmentName } },
        h('div', { class: 'env-head' }, h('b', null, e.serviceEnvironmentName, ' ', c.state), c.use), c.meter, c.chart);
      cards.set(e.serviceEnvironmentName, c);
    }
    const pct = e.maxCapacity > 0 ? Math.min(100, (100 * e.instancesInUse) / e.maxCapacity) : 0;
    c.fill.style.width = pct + '%';
    c.meter.classList.toggle('full', e.maxCapacity > 0 && e.instancesInUse >= e.maxCapacity);
    c.use.replaceChildren(h('b', null, e.instancesInUse), ` / ${e.maxCapacity} instances in use`,
      h('span', { class: 'hint' }, ` · ${e.jobs} job${e.jobs === 1 ? '' : 's'}`));
    c.state.replaceChildren(e.state === 'DISABLED' ? h('span', { class: 'badge plain' }, 'DISABLED') : '');
    c.maxCapacity = e.maxCapacity;
  }
  for (const [name, c] of cards) if (!seen.has(name)) { cards.delete(name); c.el.remove(); }
  box.replaceChildren(...[...cards.values()].map((c) => c.el));
  if (cards.size === 0) box.replaceChildren(h('p', { class: 'empty' }, 'No service environments yet.'));
}

// chartPanel reads getutilization for the chosen window, not more often
// than its periods change.
function chartPanel() {
  let [, windowMs, period] = WINDOWS[1];
  let fetched = 0;
  let last = null;
  const select = h('select', {
    id: 'window',
    onchange: () => { [, windowMs, period] = WINDOWS[select.selectedIndex]; fetched = 0; refresh(); },
  }, WINDOWS.map(([label, ms]) => h('option', { value: ms, selected: ms === windowMs }, 'last ' + label)));
  const toolbar = h('div', { class: 'toolbar' }, h('span', { class: 'hint' }, 'Utilization over'), select);
  return {
    toolbar,
    async update(cards) {
      const stale = Date.now() - fetched > Math.max(4000, Math.min(windowMs / 240, 30000));
      if (stale || !last) {
        // Periods start at multiples of their length, so they stay put from
        // one refresh to the next; the last one ends now.
        const p = period * 1000;
        last = await api('getutilization', { startTime: Math.ceil((Date.now() - windowMs) / p) * p, periodSeconds: period });
        fetched = Date.now();
      }
      for (const e of last.serviceEnvironments) {
        const c = cards.get(e.serviceEnvironmentName);
        if (c) c.chart.replaceChildren(utilizationChart(last, e), legend(last));
      }
      return last;
    },
  };
}

function legend(u) {
  return h('div', { class: 'legend' },
    h('span', null, h('i', { class: 'l-avg' }), `average per ${fmtDur(u.periodSeconds * 1000)}`),
    h('span', null, h('i', { class: 'l-peak' }), 'peak'),
    h('span', null, h('i', { class: 'l-cap' }), 'capacity'),
    u.truncated ? h('span', null, `only the ${u.jobsRead} most recent jobs are counted`) : null);
}

// niceTicks returns about five round values from 0 to max.
function niceTicks(max) {
  const raw = max / 5;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * mag).find((v) => v >= raw));
  const ticks = [];
  for (let v = 0; v <= max; v += step) ticks.push(v);
  return ticks;
}

function utilizationChart(u, e) {
  const W = 900, H = 190, L = 34, R = 10, T = 10, B = 22;
  const n = u.timestamps.length;
  const maxY = Math.max(1, e.maxCapacity, ...e.peak);
  const x = (t) => L + ((t - u.startTime) / (u.endTime - u.startTime)) * (W - L - R);
  const y = (v) => T + (1 - v / maxY) * (H - T - B);
  const end = (i) => (i + 1 < n ? u.timestamps[i + 1] : u.endTime);
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `instances in use in ${e.serviceEnvironmentName}` });
  for (const v of niceTicks(maxY)) {
    svg.append(s('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      s('text', { x: L - 6, y: y(v) + 3, 'text-anchor': 'end' }, v));
  }
  let area = `M${x(u.startTime)},${y(0)}`;
  let line = '';
  for (let i = 0; i < n; i++) {
    const x0 = x(u.timestamps[i]), x1 = x(end(i));
    area += `L${x0},${y(e.average[i])}L${x1},${y(e.average[i])}`;
    line += `${i ? 'L' : 'M'}${x0},${y(e.peak[i])}L${x1},${y(e.peak[i])}`;
  }
  area += `L${x(u.endTime)},${y(0)}Z`;
  svg.append(s('path', { class: 'avg', d: area }), s('path', { class: 'peak', d: line }));
  if (e.maxCapacity > 0) {
    svg.append(s('line', { class: 'cap', x1: L, x2: W - R, y1: y(e.maxCapacity), y2: y(e.maxCapacity) }));
  }
  for (const frac of [0, 0.5, 1]) {
    const t = u.startTime + frac * (u.endTime - u.startTime);
    svg.append(s('text', { x: x(t), y: H - 6, 'text-anchor': frac === 0 ? 'start' : frac === 1 ? 'end' : 'middle' },
      frac === 1 ? 'now' : fmtTime(t).slice(-8, -3)));
  }
  for (let i = 0; i < n; i++) {
    svg.append(s('rect', { class: 'hover', x: x(u.timestamps[i]), y: T, width: Math.max(0.5, x(end(i)) - x(u.timestamps[i])), height: H - T - B },
      s('title', null, `${fmtTime(u.timestamps[i])}: ${fmtNum(e.average[i])} on average, peak ${e.peak[i]} of ${e.maxCapacity}`)));
  }
  return svg;
}

// queueKind names a queue's scheduling: FIFO, fair share or quota management.
function queueKind(q) {
  if (q.fairshare) return `fair share (${q.fairshare.shareCount} share${q.fairshare.shareCount === 1 ? '' : 's'})`;
  if (q.quotaShares) return `quota management (${q.quotaShares.shares.length} quota share${q.quotaShares.shares.length === 1 ? '' : 's'})`;
  return 'FIFO';
}

// ---- a queue: counts, front of the queue, shares ----

// jobCache holds what the front of a queue shows of each job; a job's
// reason and priority may change, so entries are read again after a while.
const jobCache = new Map();
const JOB_INFO_TTL = 10000;

async function jobInfo(ids) {
  const now = Date.now();
  const stale = ids.filter((id) => !jobCache.has(id) || now - jobCache.get(id).at > JOB_INFO_TTL);
  await Promise.all(stale.map(async (id) => {
    try {
      const j = await api('describeservicejob', { jobId: id });
      jobCache.set(id, { at: now, jobName: j.jobName, shareIdentifier: j.shareIdentifier || j.quotaShareName || '', priority: j.schedulingPriority, statusReason: j.statusReason || '' });
    } catch (e) {
      if (!jobCache.has(id)) jobCache.set(id, { at: now, jobName: id, shareIdentifier: '', statusReason: '' });
    }
  }));
  for (const [id, v] of jobCache) if (now - v.at > 6 * JOB_INFO_TTL) jobCache.delete(id);
  return ids.map((id) => jobCache.get(id));
}

function queueView(r) {
  const name = r.name;
  const head = h('p', { class: 'hint' });
  const tiles = h('div', { class: 'tiles' });
  const front = h('tbody');
  const frontNote = h('p', { class: 'note' });
  const shares = h('section', { hidden: true });
  const panels = h('div', { class: 'two' },
      h('section', null, h('h2', null, 'Front of the queue'),
        h('p', { class: 'hint' }, 'The RUNNABLE jobs in the order the scheduler admits them when capacity frees (GetJobQueueSnapshot).'),
        h('div', { class: 'scroll' }, h('table', { id: 'front' }, h('thead', null, h('tr', null, h('th', { class: 'num' }, '#'), h('th', null, 'Job'),
          h('th', null, 'Share'), h('th', { class: 'num' }, 'Priority'), h('th', null, 'Waiting since'), h('th', null, 'Reason'))), front)), frontNote),
      shares);
  $main.append(h('h1', null, 'Queue ', name), head, h('section', null, h('h2', null, 'Jobs'), tiles), panels);
  return {
    async refresh() {
      const [d, snap] = await Promise.all([api('getdashboard', {}), api('getjobqueuesnapshot', { jobQueue: name })]);
      const q = d.jobQueues.find((x) => x.jobQueueName === name);
      if (!q) throw Object.assign(new Error(`job queue ${name} not found`), { status: 400 });
      head.replaceChildren(`${q.fairshare ? 'Fair-share' : q.quotaShares ? 'Quota management' : 'FIFO'} queue, priority ${q.priority}, ${q.state}; environments: `,
        q.serviceEnvironments.join(', ') || 'none', `; ${q.instancesInUse} instance${q.instancesInUse === 1 ? '' : 's'} in use.`);
      tiles.replaceChildren(...STATES.map((st) => h('a', { class: 'tile', href: jobsHref({ queue: name, status: st }), data: { status: st } },
        h('div', { class: 'n' }, String(q.jobCounts[st] || 0) + (q.cappedCounts.includes(st) ? '+' : '')), h('div', { class: 's' }, st))));
      const jobs = snap.frontOfQueue.jobs.slice(0, 20);
      const infos = await jobInfo(jobs.map((j) => nameOf(j.jobArn)));
      front.replaceChildren(...jobs.map((j, i) => {
        const id = nameOf(j.jobArn), info = infos[i];
        return h('tr', null, h('td', { class: 'num' }, i + 1),
          h('td', null, h('a', { href: jobHref(id) }, info.jobName), ' ', h('span', { class: 'hint mono' }, shortId(id))),
          h('td', null, info.shareIdentifier || '—'), h('td', { class: 'num' }, info.priority ?? ''),
          h('td', null, j.earliestTimeAtPosition ? [timeEl(j.earliestTimeAtPosition), h('span', { class: 'hint' }, ' · ' + ago(j.earliestTimeAtPosition))] : '—'),
          h('td', { class: 'wrap hint' }, info.statusReason));
      }));
      if (jobs.length === 0) front.replaceChildren(h('tr', null, h('td', { class: 'empty', colspan: 6 }, 'No job is waiting.')));
      const runnable = q.jobCounts.RUNNABLE || 0;
      frontNote.textContent = runnable > jobs.length ? `The first ${jobs.length} of ${runnable} RUNNABLE jobs.` : '';
      shares.hidden = !q.fairshare && !q.quotaShares;
      panels.classList.toggle('one', shares.hidden);
      if (q.fairshare) shares.replaceChildren(...shareTable(q.fairshare).filter(Boolean));
      if (q.quotaShares) shares.replaceChildren(...quotaTable(q.quotaShares));
    },
  };
}

function shareTable(fs) {
  const maxScore = Math.max(0.001, ...fs.shares.map((x) => x.score));
  return [
    h('h2', null, 'Shares'),
    h('p', { class: 'hint' }, `Instances each share holds now and its past usage, decaying with a time constant of ${fmtDur((fs.shareDecaySeconds || 600) * 1000)}. `,
      'Among shares with waiting jobs, the lowest score = (in use + past usage) × weight is served next; a lower weight gets more capacity.',
      fs.computeReservation ? ` ${fs.computeReservation}% compute reservation.` : ''),
    h('table', { id: 'shares' },
      h('thead', null, h('tr', null, h('th', null, 'Share'), h('th', { class: 'num' }, 'Weight'), h('th', { class: 'num' }, 'In use'),
        h('th', { class: 'num' }, 'Past usage'), h('th', { class: 'num' }, 'Waiting'), h('th', null, 'Score'))),
      h('tbody', null, fs.shares.map((x) => {
        const bar = h('span', { class: 'bar' });
        bar.style.width = Math.round((60 * x.score) / maxScore) + 'px';
        return h('tr', { data: { share: x.shareIdentifier } }, h('td', null, x.shareIdentifier),
          h('td', { class: 'num' }, fmtNum(x.weightFactor)), h('td', { class: 'num' }, x.instancesInUse),
          h('td', { class: 'num' }, x.decayedUsage.toFixed(2)), h('td', { class: 'num' }, x.runnable),
          h('td', null, bar, x.score.toFixed(2)));
      }),
      fs.shares.length === 0 ? h('tr', null, h('td', { class: 'empty', colspan: 6 }, 'No share has used or asked for capacity yet.')) : null)),
    fs.shareCount > fs.shares.length ? h('p', { class: 'note' }, `The ${fs.shares.length} most active of ${fs.shareCount} shares.`) : null,
  ];
}

function quotaTable(qs) {
  const rows = [];
  for (const s of qs.shares) {
    const strategy = s.strategy === 'LEND_AND_BORROW' ? `${s.strategy} (${s.borrowLimit < 0 ? 'unlimited' : 'up to ' + s.borrowLimit + '%'})` : s.strategy;
    s.capacity.forEach((c, i) => rows.push(h('tr', { data: { share: s.quotaShareName, type: c.capacityUnit } },
      h('td', null, i === 0 ? [s.quotaShareName, s.state === 'DISABLED' ? [' ', h('span', { class: 'badge plain' }, 'DISABLED')] : null] : ''),
      h('td', { class: 'hint' }, i === 0 ? strategy + (s.inSharePreemption === 'ENABLED' ? '; in-share preemption' : '') : ''),
      h('td', { class: 'mono' }, c.capacityUnit), h('td', { class: 'num' }, c.quota), h('td', { class: 'num' }, c.instancesInUse),
      h('td', { class: 'num' }, c.borrowed), h('td', { class: 'num' }, c.lent), h('td', { class: 'num' }, i === 0 ? s.runnable : ''))));
  }
  return [
    h('h2', null, 'Quota shares'),
    h('p', { class: 'hint' }, 'Each share\'s quota per instance type, the instances it holds, those it borrows beyond its quota, and its idle quota lent to borrowers. ',
      'Lent quota is taken back by preempting the borrowers when the share\'s own jobs arrive.'),
    h('div', { class: 'scroll' }, h('table', { id: 'quota-shares' },
      h('thead', null, h('tr', null, h('th', null, 'Share'), h('th', null, 'Sharing'), h('th', null, 'Type'), h('th', { class: 'num' }, 'Quota'),
        h('th', { class: 'num' }, 'In use'), h('th', { class: 'num' }, 'Borrowed'), h('th', { class: 'num' }, 'Lent'), h('th', { class: 'num' }, 'Waiting'))),
      h('tbody', null, rows.length ? rows : h('tr', null, h('td', { class: 'empty', colspan: 8 }, 'No quota shares yet. Create one with `sagequeue quota-share create`.'))))),
  ];
}

// ---- job list ----

function jobListView(r) {
  const f = { queue: r.params.get('queue') || '', status: r.params.get('status') || '', share: r.params.get('share') || '', name: r.params.get('name') || '' };
  let tokens = ['']; // tokens[i] reads page i
  let page = 0;
  let next = '';
  const tbody = h('tbody');
  const pageLabel = h('span');
  const newer = h('button', { onclick: () => { page--; refresh(); } }, '‹ Newer');
  const older = h('button', { onclick: () => { tokens[page + 1] = next; page++; refresh(); } }, 'Older ›');
  const queueSel = h('select', { id: 'f-queue', onchange: () => set('queue', queueSel.value) }, h('option', { value: '' }, 'All queues'));
  const statusSel = h('select', { id: 'f-status', onchange: () => set('status', statusSel.value) }, h('option', { value: '' }, 'Any state'),
    STATES.map((st) => h('option', { value: st, selected: st === f.status }, st)));
  let timer = 0;
  const typed = (key, input) => () => { clearTimeout(timer); timer = setTimeout(() => set(key, input.value.trim()), 350); };
  const shareIn = h('input', { type: 'text', id: 'f-share', value: f.share, placeholder: 'any', spellcheck: 'false' });
  const nameIn = h('input', { type: 'text', id: 'f-name', value: f.name, placeholder: 'any', spellcheck: 'false' });
  shareIn.addEventListener('input', typed('share', shareIn));
  nameIn.addEventListener('input', typed('name', nameIn));

  function set(key, value) {
    f[key] = value;
    tokens = ['']; page = 0;
    history.replaceState(null, '', jobsHref(f));
    refresh();
  }

  $main.append(h('h1', null, 'Jobs'),
    h('section', null,
      h('div', { class: 'toolbar' },
        h('label', null, 'Queue', queueSel), h('label', null, 'State', statusSel),
        h('label', null, 'Share', shareIn), h('label', null, 'Name starts with', nameIn),
        h('a', { class: 'button', href: '#/jobs', onclick: (ev) => { ev.preventDefault(); if (location.hash === '#/jobs') mount(); else location.hash = '#/jobs'; } }, 'Clear')),
      h('div', { class: 'scroll' }, h('table', { id: 'jobs' },
        h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Job ID'), h('th', null, 'Queue'), h('th', null, 'Share'),
          h('th', null, 'State'), h('th', null, 'Submitted'), h('th', null, 'Started'), h('th', null, 'Ran'), h('th', null, 'Reason'))),
        tbody)),
      h('div', { class: 'pager' }, newer, pageLabel, older)));

  api('describejobqueues', {}).then((d) => {
    queueSel.append(...d.jobQueues.map((q) => h('option', { value: q.jobQueueName }, q.jobQueueName)));
    if (f.queue && !d.jobQueues.some((q) => q.jobQueueName === f.queue)) queueSel.append(h('option', { value: f.queue }, f.queue));
    queueSel.value = f.queue;
  }).catch(() => { if (f.queue) { queueSel.append(h('option', { value: f.queue }, f.queue)); queueSel.value = f.queue; } });

  return {
    async refresh() {
      const req = { maxResults: PAGE_SIZE };
      if (f.queue) req.jobQueue = f.queue;
      if (f.status) req.jobStatus = f.status;
      if (f.share) req.shareIdentifier = f.share;
      if (f.name) req.jobNamePrefix = f.name;
      if (tokens[page]) req.nextToken = tokens[page];
      const d = await api('searchservicejobs', req);
      next = d.nextToken || '';
      tbody.replaceChildren(...d.jobSummaryList.map(jobRow));
      if (d.jobSummaryList.length === 0) {
        tbody.replaceChildren(h('tr', null, h('td', { class: 'empty', colspan: 9 }, next ? 'No matching jobs on this page; try older ones.' : 'No job matches.')));
      }
      newer.disabled = page === 0;
      older.disabled = !next;
      pageLabel.textContent = `page ${page + 1}`;
    },
  };
}

function jobRow(j) {
  const ran = j.startedAt ? (j.stoppedAt || Date.now()) - j.startedAt : null;
  return h('tr', { data: { job: j.jobId } },
    h('td', null, h('a', { href: jobHref(j.jobId) }, j.jobName)),
    h('td', { class: 'mono hint', title: j.jobId }, shortId(j.jobId)),
    h('td', null, nameOf(j.jobQueue)),
    h('td', null, j.shareIdentifier || '—'),
    h('td', null, badge(j.status)),
    h('td', null, timeEl(j.createdAt)),
    h('td', null, timeEl(j.startedAt)),
    h('td', { class: 'num' }, ran == null ? '—' : fmtDur(ran)),
    h('td', { class: 'wrap hint' }, j.statusReason || ''));
}

// ---- a job ----

function jobView(r, alive) {
  const id = r.id;
  const title = h('h1', null, 'Job');
  const reason = h('div');
  const fields = h('dl', { class: 'fields' });
  const steps = h('ol', { class: 'steps', id: 'timeline' });
  const gantt = h('div');
  const attempts = h('tbody');
  const payload = h('pre', { class: 'payload', id: 'payload' });
  const logPre = h('pre', { class: 'log', id: 'log' });
  const logTabs = h('span', { class: 'log-head' });
  const logState = h('span', { class: 'log-state' });
  const logNote = h('p', { class: 'note' });
  $main.append(title, reason,
    h('div', { class: 'two' },
      h('section', null, h('h2', null, 'Details'), fields),
      h('section', null, h('h2', null, 'Timeline'), steps, gantt)),
    h('section', null, h('h2', null, 'Attempts'),
      h('p', { class: 'hint' }, 'Each attempt is one SageMaker training job; a failed attempt is retried as the retry strategy says.'),
      h('div', { class: 'scroll' }, h('table', { id: 'attempts' }, h('thead', null, h('tr', null, h('th', { class: 'num' }, '#'),
        h('th', null, 'Training job'), h('th', null, 'Started'), h('th', null, 'Stopped'), h('th', { class: 'num' }, 'Ran'), h('th', null, 'Reason'))), attempts))),
    h('section', null, h('div', { class: 'log-head' }, h('h2', null, 'Log'), logTabs, logState), logPre, logNote),
    h('section', null, h('details', { open: true }, h('summary', null, 'Payload (serviceRequestPayload)'), payload)));

  let job = null;
  const log = { attempt: 0, pinned: false, token: '', done: false, busy: false, lines: 0, timer: 0 };

  function resetLog(attempt) {
    Object.assign(log, { attempt, token: '', done: false, lines: 0 });
    logPre.replaceChildren();
    logNote.textContent = '';
  }

  async function pollLog() {
    if (log.busy || !job || (log.done && !needsNewAttempt())) return;
    if (needsNewAttempt()) resetLog(job.attempts.length);
    if (log.attempt === 0) {
      logState.className = 'log-state';
      logState.textContent = TERMINAL.has(job.status) ? 'the job never started' : 'waiting for the job to start…';
      logPre.replaceChildren(h('span', { class: 'gap' }, TERMINAL.has(job.status) ? 'No log: the job ended before it started.' : 'No log yet: it appears here when the job starts.'));
      return;
    }
    log.busy = true;
    try {
      const req = { jobId: id, attempt: log.attempt };
      if (log.token) Object.assign(req, { nextToken: log.token, startFromHead: true, limit: 1000 });
      else req.limit = LOG_TAIL;
      const attempt = log.attempt;
      const d = await api('getservicejoblogs', req);
      if (!alive() || attempt !== log.attempt) return;
      if (!log.token && d.events.length >= LOG_TAIL) logNote.textContent = `Showing the last lines; the whole log: sagequeue logs --head ${id}`;
      appendLog(d.events);
      log.token = d.nextToken || log.token;
      log.done = d.done;
      logState.className = 'log-state' + (d.done ? '' : ' following');
      logState.textContent = d.done ? `attempt ${attempt} finished` : `following attempt ${attempt}`;
    } catch (err) {
      logState.className = 'log-state';
      logState.textContent = 'cannot read the log: ' + err.message;
    } finally {
      log.busy = false;
    }
  }

  function needsNewAttempt() {
    return !log.pinned && job && job.attempts.length > log.attempt;
  }

  function appendLog(events) {
    if (!events.length) return;
    const atBottom = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 4;
    logPre.append(events.map((e) => e.message).join('\n') + '\n');
    log.lines += events.length;
    if (log.lines > LOG_KEEP) { // keep the page light: drop the oldest text
      const text = logPre.textContent.split('\n');
      logPre.replaceChildren(h('span', { class: 'gap' }, '… earlier lines dropped …\n'), text.slice(-LOG_KEEP - 1).join('\n'));
      log.lines = LOG_KEEP;
    }
    if (atBottom) logPre.scrollTop = logPre.scrollHeight;
  }

  function renderTabs() {
    const n = job.attempts.length;
    logTabs.replaceChildren(...(n > 1 ? job.attempts.map((_, i) => h('button', {
      class: i + 1 === log.attempt ? 'on' : '',
      onclick: () => { log.pinned = i + 1 !== n; resetLog(i + 1); renderTabs(); pollLog(); },
    }, `attempt ${i + 1}`)) : []));
  }

  log.timer = setInterval(() => { if ($auto.checked && !document.hidden) pollLog(); }, LOG_POLL_MS);

  return {
    stop() { clearInterval(log.timer); },
    async refresh() {
      if (job && TERMINAL.has(job.status) && log.done) return; // nothing changes any more
      job = await api('describeservicejob', { jobId: id });
      render(job);
      await pollLog();
      renderTabs();
    },
  };

  function render(j) {
    document.title = `${j.jobName} · sagequeue`;
    const queue = nameOf(j.jobQueue);
    title.replaceChildren(j.jobName, ' ', h('span', { id: 'job-status' }, badge(j.status, 'big')), h('span', { class: 'sub mono' }, j.jobId));
    reason.replaceChildren(j.statusReason ? h('p', { class: `reason ${j.status}`, id: 'job-reason' }, j.statusReason) : '');
    const rs = j.retryStrategy;
    const cap = (j.capacityUsage || []).map((c) => `${c.quantity} ${c.capacityUnit === 'NUM_INSTANCES' ? 'instance' + (c.quantity === 1 ? '' : 's') : c.capacityUnit}`).join(', ');
    const rows = [
      ['Queue', h('a', { href: queueHref(queue) }, queue)],
      ['Share', j.shareIdentifier ? h('a', { href: jobsHref({ queue, share: j.shareIdentifier }) }, j.shareIdentifier) : '—'],
      ['Scheduling priority', j.schedulingPriority],
      ['Capacity', cap || '—'],
      ['Retry strategy', rs ? `${rs.attempts} attempt${rs.attempts === 1 ? '' : 's'}` + (rs.evaluateOnExit || []).map((e) => `; ${e.action} on "${e.onStatusReason || '*'}"`).join('') : '1 attempt, no retries'],
      ['Attempt timeout', j.timeoutConfig && j.timeoutConfig.attemptDurationSeconds ? fmtDur(j.timeoutConfig.attemptDurationSeconds * 1000) : 'none'],
      j.isTerminated ? ['Terminated', 'yes'] : null,
      j.submittedBy ? ['Submitted by', j.submittedBy] : null,
      j.tags && Object.keys(j.tags).length ? ['Tags', Object.entries(j.tags).map(([k, v]) => `${k}=${v}`).join(', ')] : null,
      ['Job ARN', h('span', { class: 'mono' }, j.jobArn)],
    ].filter(Boolean);
    fields.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
    renderSteps(j);
    gantt.replaceChildren(attemptChart(j));
    attempts.replaceChildren(...j.attempts.map((a, i) => {
      const tj = a.serviceResourceId ? nameOf(a.serviceResourceId.value) : '';
      const end = a.stoppedAt || (i === j.attempts.length - 1 && ACTIVE.has(j.status) ? Date.now() : 0);
      return h('tr', { data: { attempt: String(i + 1) } }, h('td', { class: 'num' }, i + 1), h('td', { class: 'mono' }, tj || '—'),
        h('td', null, timeEl(a.startedAt)), h('td', null, timeEl(a.stoppedAt)),
        h('td', { class: 'num' }, a.startedAt && end ? fmtDur(end - a.startedAt) : '—'),
        h('td', { class: 'wrap reason-cell' }, a.statusReason || (a.stoppedAt ? '' : 'in progress')));
    }));
    if (j.attempts.length === 0) attempts.replaceChildren(h('tr', null, h('td', { class: 'empty', colspan: 6 }, 'No attempt yet: the job has not been scheduled.')));
    if (!payload.dataset.shown) {
      let text = j.serviceRequestPayload || '';
      try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* shown as it is */ }
      payload.textContent = text;
      payload.dataset.shown = '1';
    }
  }

  function renderSteps(j) {
    const now = Date.now();
    const stopped = TERMINAL.has(j.status) ? j.stoppedAt : 0;
    const step = (what, at, took, cls) => h('li', { class: (at ? 'done ' : '') + (cls || '') },
      h('div', { class: 'what' }, what), h('div', { class: 'when' }, at ? timeEl(at) : 'not yet'), took ? h('div', { class: 'took' }, took) : null);
    steps.replaceChildren(
      step('Submitted', j.createdAt),
      step('Scheduled', j.scheduledAt, j.scheduledAt ? `waited ${fmtDur(j.scheduledAt - j.createdAt)}` : waitedFor(j, now)),
      step('Started', j.startedAt, j.startedAt && j.scheduledAt && j.startedAt >= j.scheduledAt ? `after ${fmtDur(j.startedAt - j.scheduledAt)}` : ''),
      step(j.status === 'FAILED' ? 'Failed' : j.status === 'SUCCEEDED' ? 'Succeeded' : 'Stopped', stopped,
        j.startedAt && stopped ? `ran ${fmtDur(stopped - j.startedAt)}` : j.startedAt && ACTIVE.has(j.status) ? `running for ${fmtDur(now - j.startedAt)}` : '',
        TERMINAL.has(j.status) ? j.status : ''));
  }

  function waitedFor(j, now) {
    return TERMINAL.has(j.status) ? '' : `waiting for ${fmtDur(now - j.createdAt)}`;
  }
}

// attemptChart draws the job's life: a bar per attempt, from its start (the
// latest from when it was scheduled) to its stop.
function attemptChart(j) {
  const now = Date.now();
  const t0 = j.createdAt;
  const t1 = Math.max(j.stoppedAt || now, t0 + 1000);
  const rows = j.attempts.length || 1;
  const W = 600, L = 74, R = 10, RH = 22, T = 6, H = T + rows * RH + 20;
  const x = (t) => L + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * (W - L - R);
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'attempts over time' });
  svg.append(s('line', { class: 'grid', x1: L, x2: W - R, y1: H - 18, y2: H - 18 }));
  j.attempts.forEach((a, i) => {
    const last = i === j.attempts.length - 1;
    const from = last && j.scheduledAt ? j.scheduledAt : a.startedAt || a.stoppedAt;
    const to = a.stoppedAt || (last && ACTIVE.has(j.status) ? now : from);
    const y = T + i * RH;
    const ok = !a.statusReason || /Completed$/.test(a.statusReason);
    const color = !a.stoppedAt ? 'var(--running)' : ok ? 'var(--succeeded)' : 'var(--failed)';
    svg.append(s('text', { x: 0, y: y + 14 }, `attempt ${i + 1}`),
      s('rect', { x: x(from), y: y + 3, width: Math.max(2, x(to) - x(from)), height: RH - 8, rx: 3, fill: color },
        s('title', null, `attempt ${i + 1}: ${fmtTime(from)} – ${a.stoppedAt ? fmtTime(a.stoppedAt) : 'now'}${a.statusReason ? '\n' + a.statusReason : ''}`)));
  });
  if (!j.attempts.length) {
    svg.append(s('text', { x: L, y: T + 14 }, TERMINAL.has(j.status) ? 'never scheduled' : 'waiting to be scheduled…'));
  }
  svg.append(s('text', { x: L, y: H - 4, 'text-anchor': 'start' }, 'submitted ' + fmtTime(t0)),
    s('text', { x: W - R, y: H - 4, 'text-anchor': 'end' }, j.stoppedAt ? 'ended ' + fmtTime(j.stoppedAt) : 'now'));
  return svg;
}

function notFoundView() {
  $main.append(h('h1', null, 'Not found'), h('p', null, 'No such view. ', h('a', { href: '#/' }, 'Back to the overview.')));
  return {};
}

mount();
