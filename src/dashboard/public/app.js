// callgate calls dashboard: plain JS, no build step, no inline code (the page runs under a strict CSP).
// Data comes from the public API with the user's number key: GET /v1/calls, the SSE stream
// /v1/events/stream (read with fetch so the key travels in a header), the timeline and terminate.
// A tenant key gets the Numbers page and the Webhooks page (webhooks.js).

import { recordingView } from './recording.js';
import { webNumberPairing } from './web-number.js';
import { webhooksPage } from './webhooks.js';

const KEY_STORAGE = 'callgate.dashboard.apiKey';
const PAGE_SIZE = 100;
/** The stream sends a comment every 15 s when idle: silence for longer means a dead connection. */
const STREAM_STALL_MS = 45_000;
const ACTIVE = new Set(['INITIATED', 'RINGING', 'ACCEPTED']);
const TERMINAL = new Set(['COMPLETED', 'FAILED', 'REJECTED', 'MISSED']);
const ENDED_BY = { BUSINESS: 'Business', PEER: 'Peer', SYSTEM: 'System' };

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** Builds an element; children are nodes or text (never parsed as HTML). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (name === 'class') {
      el.className = value;
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (name.startsWith('on')) {
      el.addEventListener(name.slice(2), value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      el.append(child);
    }
  }
  return el;
}

// ---------------------------------------------------------------------------------------------- state

const state = {
  key: null,
  /** @type {Map<string, any>} call id → public call */
  calls: new Map(),
  /** @type {Map<string, HTMLTableRowElement>} */
  rows: new Map(),
  selectedId: null,
  hasMore: false,
  tenant: false, // signed in with a tenant key: the Numbers page, no calls
  notice: null, // a message the summary shows instead of the counts (a call link that led nowhere)
  /** While a filter is set: whether the server has older matches than those shown (null: no filter). */
  searchHasMore: null,
  searching: false,
  loadingMore: false,
  lastEventId: null,
  stream: null, // AbortController of the live stream
  session: 0, // bumps on sign-out, so late answers of an old session are dropped
  skewMs: 0, // server clock − browser clock, when they differ noticeably
  fresh: new Set(), // ids of calls that arrived live, highlighted once
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** `as: 'blob'` answers the body as a Blob (a recording); refusals are JSON either way. */
async function api(path, { method = 'GET', signal, body: json, as = 'json' } = {}) {
  let res;
  try {
    const headers = { 'x-api-key': state.key, accept: as === 'blob' ? '*/*' : 'application/json' };
    if (json !== undefined) {
      headers['content-type'] = 'application/json';
    }
    res = await fetch(path, {
      method,
      signal,
      cache: 'no-store',
      headers,
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
    });
  } catch (error) {
    if (error.name === 'AbortError') {
      throw error;
    }
    throw new ApiError(0, 'NETWORK', 'Cannot reach the server.');
  }
  const date = Date.parse(res.headers.get('date') ?? '');
  if (!Number.isNaN(date)) {
    const skew = date - Date.now();
    state.skewMs = Math.abs(skew) > 2000 ? skew : 0;
  }
  if (res.ok && as === 'blob') {
    return res.blob();
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const error = new ApiError(res.status, body?.code ?? `HTTP_${res.status}`, body?.error ?? res.statusText);
    error.details = body?.details;
    throw error;
  }
  return body;
}

const now = () => Date.now() + state.skewMs;

/**
 * A failure as the user should read it: the API's message, then the provider's own reason or the validation's
 * (a PROVIDER_ERROR says only "the provider refused" — why is in `details`), then the code.
 */
function failureText(error) {
  const why = error.details?.providerMessage ?? error.details?.reason;
  const code = error instanceof ApiError ? ` (${error.code})` : '';
  return `${error.message}${why ? `: ${why}` : ''}${code}`;
}

// ------------------------------------------------------------------------------------------ formatting

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
});
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

function when(iso) {
  if (!iso) {
    return '—';
  }
  const d = new Date(iso);
  return d.toDateString() === new Date().toDateString() ? timeFmt.format(d) : dateTimeFmt.format(d);
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** Seconds talked: ticking while connected, the stored duration once ended. */
function duration(call) {
  if (call.status === 'ACCEPTED' && call.connectedAt) {
    return clock((now() - Date.parse(call.connectedAt)) / 1000);
  }
  if (call.durationSeconds !== null && call.durationSeconds !== undefined) {
    return clock(call.durationSeconds);
  }
  if (call.connectedAt && call.endedAt) {
    return clock((Date.parse(call.endedAt) - Date.parse(call.connectedAt)) / 1000);
  }
  return '—';
}

/** How long a call not yet answered has been waiting, ticking; null once it was answered or ended. */
function waiting(call) {
  if (call.status !== 'RINGING' && call.status !== 'INITIATED') {
    return null;
  }
  return `Waiting ${clock((now() - Date.parse(call.startedAt ?? call.createdAt)) / 1000)}`;
}

/** The duration cell: the wait while a call rings, the time talked after. */
const durationText = (call) => waiting(call) ?? duration(call);

// A caller may have no known phone number: Meta's user id or a WhatsApp LID is all there is then.
const peer = (call) =>
  call.peerNumber
    ? `+${call.peerNumber}`
    : call.peerUserId
      ? `user ${call.peerUserId}`
      : call.peerLid
        ? `LID ${call.peerLid}`
        : 'unknown';
const maskKey = (key) => (key.length > 10 ? `${key.slice(0, 3)}…${key.slice(-4)}` : '…');

function badge(status) {
  return h('span', { class: `badge s-${status.toLowerCase()}`, dataset: { status } }, status);
}

function direction(call) {
  const inbound = call.direction === 'INBOUND';
  return h(
    'span',
    { class: 'dir' },
    h('span', { class: 'arrow', 'aria-hidden': 'true' }, inbound ? '↙' : '↗'),
    inbound ? 'Inbound' : 'Outbound',
  );
}

// ------------------------------------------------------------------------------------------- the table

/** Keeps the newer of two versions of a call: terminal states are final, otherwise the later update wins. */
function isNewer(next, prev) {
  if (TERMINAL.has(prev.status) && !TERMINAL.has(next.status)) {
    return false;
  }
  return Date.parse(next.updatedAt) >= Date.parse(prev.updatedAt);
}

function upsert(call, { live = false } = {}) {
  const prev = state.calls.get(call.id);
  if (prev && !isNewer(call, prev)) {
    return;
  }
  state.calls.set(call.id, call);
  if (live && !prev) {
    state.fresh.add(call.id);
    announce(
      `New ${call.direction === 'INBOUND' ? 'incoming' : 'outgoing'} call, ${peer(call)}, ${call.status.toLowerCase()}.`,
    );
  } else if (live && prev && prev.status !== call.status) {
    announce(`Call with ${peer(call)} is now ${call.status.toLowerCase()}.`);
  }
  if (state.selectedId === call.id) {
    renderPanel();
    if (live) {
      refreshTimeline();
    }
  }
  phoneOnCall(call);
  scheduleRender();
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) {
    return;
  }
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderTable();
  });
}

function matches(call, status, text) {
  if (status === 'active' ? !ACTIVE.has(call.status) : status && call.status !== status) {
    return false;
  }
  if (!text) {
    return true;
  }
  // Digits search the peer, as the server does; an id's digits must not match phone numbers.
  if (PEER_TEXT.test(text)) {
    return (call.peerNumber ?? call.peerLid ?? '').includes(text.replace(/[^0-9]/g, ''));
  }
  return call.id.toLowerCase().includes(text) || call.externalCallId.toLowerCase().includes(text);
}

function sorted() {
  return [...state.calls.values()].sort((a, b) =>
    a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? 1 : -1,
  );
}

function renderTable() {
  const status = /** @type {HTMLSelectElement} */ ($('filter-status')).value;
  const text = /** @type {HTMLInputElement} */ ($('filter-text')).value.trim().toLowerCase();
  const all = sorted();
  const shown = all.filter((c) => matches(c, status, text));
  const body = $('calls-body');
  const keep = new Set();
  let previous = null;
  for (const call of shown) {
    keep.add(call.id);
    let row = state.rows.get(call.id);
    if (!row) {
      row = h('tr', { dataset: { id: call.id } });
      row.addEventListener('animationend', (e) => {
        if (e.animationName === 'flash') {
          e.currentTarget.classList.remove('flash');
        }
      });
      state.rows.set(call.id, row);
    }
    if (row.__call !== call) {
      fillRow(row, call);
    }
    row.classList.toggle('selected', call.id === state.selectedId);
    row.setAttribute('aria-selected', String(call.id === state.selectedId));
    const expected = previous ? previous.nextSibling : body.firstChild;
    if (expected !== row) {
      body.insertBefore(row, expected);
    }
    previous = row;
  }
  for (const [id, row] of state.rows) {
    if (!keep.has(id)) {
      row.remove();
      if (!state.calls.has(id)) {
        state.rows.delete(id);
      }
    }
  }

  const active = all.filter((c) => ACTIVE.has(c.status)).length;
  const filtered =
    shown.length !== all.length
      ? `Showing ${shown.length} of ${all.length}`
      : `${all.length} call${all.length === 1 ? '' : 's'}`;
  $('summary').textContent = state.searching ? 'Searching…' : (state.notice ?? `${filtered} · ${active} active`);
  $('empty').hidden = shown.length > 0 || state.searching;
  renderEmpty(all.length === 0 && !status && !text);
  $('load-more').hidden = !(state.searchHasMore ?? state.hasMore);
}

const SIMULATE_COMMAND = 'npm run --silent callgate -- simulate call --audio speech-sample --hangup-after 60';
/** The CLI talks to http://localhost:8080 unless told otherwise: a server elsewhere is named in the command. */
const CLI_DEFAULT_URL = 'http://localhost:8080';
// As the README types it: `numbers create` needs --name, and `callgate` is on PATH only after `npm link`.
const CREATE_SANDBOX_COMMAND = 'npm run --silent callgate -- numbers create --name Try --provider SANDBOX';
const urlFlag = () => (location.origin === CLI_DEFAULT_URL ? '' : ` --url ${location.origin}`);
const simulateCommand = () => `${SIMULATE_COMMAND}${urlFlag()}`;

/** The empty list says how a first call gets in, for the kind of number watched. */
function renderEmpty(noCallsAtAll) {
  const number = phone.number;
  let title = 'No calls match the filter.';
  let how = 'Clear the search or pick another status; older calls are searched on the server too.';
  let command = '';
  if (noCallsAtAll && number?.sandbox) {
    title = 'No calls yet on this sandbox number.';
    how =
      'Press Ring me in the Phone panel above, or ring it from a terminal with this number’s key in ' +
      'CALLGATE_API_KEY; the call rings in the Phone panel and appears here.';
    command = simulateCommand();
  } else if (noCallsAtAll) {
    title = 'No calls yet.';
    how =
      `Calls appear here as they ring: call ${number?.phoneNumber ?? 'this number'} on WhatsApp, or call out with ` +
      'the dial pad above. To try without a phone, create a sandbox number with the tenant key (the Numbers page, ' +
      `or ${CREATE_SANDBOX_COMMAND}${urlFlag()}) and ring it with its number key:`;
    command = simulateCommand();
  }
  $('empty-title').textContent = title;
  $('empty-how').textContent = how;
  $('empty-command').textContent = command;
  $('empty-command-wrap').hidden = !command;
}

function fillRow(row, call) {
  row.__call = call;
  row.dataset.status = call.status;
  const isFresh = state.fresh.delete(call.id);
  if (isFresh) {
    row.classList.remove('flash');
    void row.offsetWidth;
    row.classList.add('flash');
  }
  // A real link: it can be copied or opened in a new tab; a plain click keeps the filters and opens in place.
  const open = h(
    'a',
    { href: `#/calls/${encodeURIComponent(call.id)}`, class: 'link', 'aria-label': `Open call with ${peer(call)}` },
    peer(call),
  );
  open.addEventListener('click', (e) => {
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
    select(call.id);
  });
  const actions = ACTIVE.has(call.status)
    ? h(
        'button',
        {
          type: 'button',
          class: 'btn danger small',
          'aria-label': `Hang up call with ${peer(call)}`,
          onclick: (e) => {
            e.stopPropagation();
            confirmHangUp(call.id, e.currentTarget);
          },
        },
        'Hang up',
      )
    : '';
  row.replaceChildren(
    h('td', {}, badge(call.status)),
    h('td', {}, direction(call)),
    h('td', {}, h('div', { class: 'peer' }, open, h('span', { class: 'id mono', title: call.id }, call.id))),
    h('td', { title: fullFmt.format(new Date(call.startedAt)) }, when(call.startedAt)),
    h('td', { class: `num mono duration${waiting(call) ? ' waiting' : ''}` }, durationText(call)),
    h(
      'td',
      { title: call.endReason ?? undefined },
      call.endedBy ? (ENDED_BY[call.endedBy] ?? call.endedBy) : h('span', { class: 'muted' }, '—'),
    ),
    h('td', { class: 'actions' }, actions),
  );
}

function tick() {
  for (const [id, row] of state.rows) {
    const call = state.calls.get(id);
    if (call && ACTIVE.has(call.status)) {
      row.querySelector('.duration').textContent = durationText(call);
    }
  }
  const call = state.calls.get(state.selectedId);
  const cell = document.querySelector('#panel-facts .duration');
  if (call && cell) {
    cell.textContent = durationText(call);
  }
  renderPhone();
}

// ------------------------------------------------------------------------------------------ server search
// A filter asks the server (GET /v1/calls?status=&peer=, or the call by id / provider id), so a call older than
// the loaded page is found too; the answers join the calls kept here and the table shows the matching ones.

/** Digits, maybe with a leading + and separators: a peer number (or part of one). */
const PEER_TEXT = /^\+?[0-9][0-9\s().-]*$/;
const MAX_PHONE_DIGITS = 15;

/** What the filters ask the server: a list query, one id to look up, or nothing at all. */
function searchPlan({ status, q } = currentFilters()) {
  const query = new URLSearchParams();
  if (status) {
    query.set('status', status === 'active' ? [...ACTIVE].join(',') : status);
  }
  if (q && PEER_TEXT.test(q)) {
    const digits = q.replace(/[^0-9]/g, '');
    if (digits.length > MAX_PHONE_DIGITS) {
      return { lookup: null, query: null }; // longer than any phone number: nothing can match
    }
    query.set('peer', digits);
  } else if (q) {
    return { lookup: /^\S{8,}$/.test(q) ? q : null, query: null };
  }
  return { lookup: null, query: query.toString() || null };
}

let searchSeq = 0;
let searchTimer = null;

function scheduleSearch() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => void search(), 250);
}

async function search() {
  const seq = ++searchSeq;
  const session = state.session;
  const stale = () => seq !== searchSeq || session !== state.session;
  const { status, q } = currentFilters();
  const plan = searchPlan({ status, q });
  state.searchHasMore = status || q ? false : null;
  if (!plan.lookup && !plan.query) {
    state.searching = false;
    scheduleRender();
    return;
  }
  state.searching = true;
  scheduleRender();
  try {
    if (plan.lookup) {
      // A call id or a provider's id: the API finds the call by either. Not found is an empty result.
      const call = await api(`/v1/calls/${encodeURIComponent(plan.lookup)}`).catch((error) => {
        if (error.status === 404 || error.status === 400) {
          return null;
        }
        throw error;
      });
      if (stale()) {
        return;
      }
      if (call) {
        upsert(call);
      }
    } else {
      const { calls } = await api(`/v1/calls?limit=${PAGE_SIZE}&${plan.query}`);
      if (stale()) {
        return;
      }
      for (const call of calls) {
        upsert(call);
      }
      state.searchHasMore = calls.length === PAGE_SIZE;
    }
  } catch (error) {
    if (!stale()) {
      announce(`Search failed: ${error.message}`);
    }
  } finally {
    if (!stale()) {
      state.searching = false;
      scheduleRender();
    }
  }
}

// ------------------------------------------------------------------------------------------ the address
// The hash holds the view: #/calls/<id> opens that call, ?status=&q= are the filters. Opening and closing a call
// add history entries (back/forward move between calls); typing a filter replaces the current one.

function currentFilters() {
  return {
    status: /** @type {HTMLSelectElement} */ ($('filter-status')).value,
    q: /** @type {HTMLInputElement} */ ($('filter-text')).value.trim(),
  };
}

function hashFor(callId, { status, q } = currentFilters()) {
  const query = new URLSearchParams();
  if (status) {
    query.set('status', status);
  }
  if (q) {
    query.set('q', q);
  }
  const search = query.toString();
  return `#/${callId ? `calls/${encodeURIComponent(callId)}` : ''}${search ? `?${search}` : ''}`;
}

function parseHash(hash) {
  const [path, search = ''] = hash.replace(/^#\/?/, '').split('?');
  const match = /^calls\/([^/]+)$/.exec(path);
  const query = new URLSearchParams(search);
  let callId = null;
  if (match) {
    try {
      callId = decodeURIComponent(match[1]);
    } catch {
      callId = null;
    }
  }
  const tenantPage = /^(webhooks|numbers)(\/|$)/.exec(path)?.[1] ?? null;
  return { callId, tenantPage, status: query.get('status') ?? '', q: query.get('q') ?? '' };
}

function writeHash(callId, { push }) {
  const hash = hashFor(callId);
  if (hash === location.hash || (hash === '#/' && location.hash === '')) {
    return;
  }
  if (push) {
    history.pushState(null, '', hash);
  } else {
    history.replaceState(null, '', hash);
  }
}

/** Shows what the address says: after sign-in, and on back/forward or an edited address. */
async function applyRoute() {
  if (!state.key) {
    return;
  }
  if (state.tenant) {
    applyTenantRoute();
    return;
  }
  state.notice = null;
  const route = parseHash(location.hash);
  const statusSelect = /** @type {HTMLSelectElement} */ ($('filter-status'));
  const known = [...statusSelect.options].some((o) => o.value === route.status);
  statusSelect.value = known ? route.status : '';
  /** @type {HTMLInputElement} */ ($('filter-text')).value = route.q;
  if (route.tenantPage) {
    // A link to a tenant page opened with a number key would otherwise show the calls as if nothing were asked.
    state.notice =
      route.tenantPage === 'webhooks'
        ? "The Webhooks page needs the tenant key; this number's webhooks: callgate webhooks list / logs <id>."
        : 'The Numbers page needs the tenant key: sign out and sign in with it.';
    announce(state.notice);
  }
  scheduleRender();
  void search();
  if (!route.callId) {
    if (state.selectedId) {
      hidePanel();
    }
    return;
  }
  if (route.callId === state.selectedId && !$('panel').hidden) {
    return;
  }
  if (!state.calls.has(route.callId)) {
    // An older call than the loaded page, or a shared link: ask for it.
    const session = state.session;
    try {
      const call = await api(`/v1/calls/${encodeURIComponent(route.callId)}`);
      if (session !== state.session) {
        return;
      }
      upsert(call);
    } catch (error) {
      state.notice =
        error.status === 404
          ? `Call ${route.callId} was not found for this number.`
          : `Could not open call ${route.callId}: ${error.message}`;
      announce(state.notice);
      hidePanel();
      return;
    }
  }
  openPanel(route.callId);
}

// ------------------------------------------------------------------------------------- the side panel

function select(id) {
  state.notice = null;
  openPanel(id);
  writeHash(id, { push: true });
}

function openPanel(id) {
  state.selectedId = id;
  $('panel').hidden = false;
  $('action-result').textContent = '';
  $('action-result').className = 'result';
  $('timeline').replaceChildren(h('li', { class: 'muted' }, 'Loading…'));
  renderPanel();
  refreshTimeline();
  scheduleRender();
  $('panel-close').focus();
}

function closePanel() {
  const id = hidePanel();
  writeHash(null, { push: true });
  state.rows.get(id)?.querySelector('.link')?.focus();
}

function hidePanel() {
  const id = state.selectedId;
  state.selectedId = null;
  $('panel').hidden = true;
  recording.render(null);
  scheduleRender();
  return id;
}

function renderPanel() {
  const call = state.calls.get(state.selectedId);
  if (!call) {
    return;
  }
  $('panel-title').textContent = `Call with ${peer(call)}`;
  const fact = (label, value, cls) => [h('dt', {}, label), h('dd', { class: cls }, value)];
  $('panel-facts').replaceChildren(
    ...fact('Status', badge(call.status)),
    ...fact('Direction', direction(call)),
    ...fact(waiting(call) ? 'Waiting' : 'Duration', durationText(call), 'mono duration'),
    ...fact('Started', call.startedAt ? fullFmt.format(new Date(call.startedAt)) : '—'),
    ...fact('Connected', call.connectedAt ? fullFmt.format(new Date(call.connectedAt)) : '—'),
    ...fact('Ended', call.endedAt ? fullFmt.format(new Date(call.endedAt)) : '—'),
    ...fact(
      'Ended by',
      call.endedBy ? `${ENDED_BY[call.endedBy] ?? call.endedBy}${call.endReason ? ` (${call.endReason})` : ''}` : '—',
    ),
    ...fact('Call id', call.id, 'mono wrap'),
    ...fact('Provider id', call.externalCallId, 'mono wrap'),
  );
  const hangup = $('panel-hangup');
  hangup.hidden = !ACTIVE.has(call.status);
  recording.render(call);
}

const recording = recordingView({
  api,
  h,
  announce,
  failureText,
  label: (id) => {
    const call = state.calls.get(id);
    return call ? peer(call) : id;
  },
  onChanged: (call) => upsert(call),
  session: () => state.session,
});

let timelineSeq = 0;
async function refreshTimeline() {
  const id = state.selectedId;
  if (!id) {
    return;
  }
  const seq = ++timelineSeq;
  const session = state.session;
  try {
    const { events } = await api(`/v1/calls/${encodeURIComponent(id)}/events`);
    if (seq !== timelineSeq || session !== state.session) {
      return;
    }
    $('timeline').replaceChildren(
      ...(events.length ? events.map(timelineItem) : [h('li', { class: 'muted' }, 'No events recorded.')]),
    );
  } catch (error) {
    if (seq !== timelineSeq || session !== state.session) {
      return;
    }
    $('timeline').replaceChildren(h('li', { class: 'error' }, `Could not load the timeline: ${error.message}`));
  }
}

function timelineItem(entry) {
  const detail = Object.entries(entry.detail ?? {})
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(' · ');
  return h(
    'li',
    { class: `ev src-${entry.source}` },
    h('span', { class: 'ev-dot', 'aria-hidden': 'true' }),
    h(
      'div',
      { class: 'ev-main' },
      h('span', { class: 'ev-type' }, entry.type),
      h('span', { class: 'chip' }, entry.source),
      h('time', { datetime: entry.at, title: fullFmt.format(new Date(entry.at)) }, timeFmt.format(new Date(entry.at))),
    ),
    detail ? h('div', { class: 'ev-detail' }, detail) : null,
  );
}

// ---------------------------------------------------------------------------------------------- hang up

let pendingHangUp = null;

function confirmHangUp(id, trigger) {
  const call = state.calls.get(id);
  if (!call || !ACTIVE.has(call.status)) {
    return;
  }
  pendingHangUp = { id, trigger };
  $('confirm-text').textContent =
    call.status === 'ACCEPTED'
      ? `The call with ${peer(call)} (connected for ${duration(call)}) ends for both sides.`
      : `The call with ${peer(call)} is not answered yet: it will be declined.`;
  /** @type {HTMLDialogElement} */ ($('confirm')).showModal();
}

async function hangUp() {
  const dialog = /** @type {HTMLDialogElement} */ ($('confirm'));
  const target = pendingHangUp;
  pendingHangUp = null;
  dialog.close();
  if (!target) {
    return;
  }
  const call = state.calls.get(target.id);
  if (state.selectedId !== target.id) {
    select(target.id);
  }
  const result = $('action-result');
  const button = /** @type {HTMLButtonElement} */ ($('panel-hangup'));
  button.disabled = true;
  result.className = 'result';
  result.textContent = 'Hanging up…';
  try {
    const answer = await api(`/v1/calls/${encodeURIComponent(target.id)}/terminate`, { method: 'POST' });
    result.className = 'result ok';
    result.textContent = answer.alreadyEnded
      ? `The call had already ended (${answer.status}).`
      : `Hung up: the call is ${answer.status}.`;
    announce(`Call with ${call ? peer(call) : target.id} hung up: ${answer.status.toLowerCase()}.`);
    // The stream brings the change too; this makes it immediate.
    const fresh = await api(`/v1/calls/${encodeURIComponent(target.id)}`);
    upsert(fresh);
    refreshTimeline();
  } catch (error) {
    result.className = 'result bad';
    result.textContent = `Could not hang up: ${failureText(error)}`;
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------------------------------ live stream

/**
 * Reads text/event-stream from a fetch body (EventSource cannot send the key header).
 * Calls onEvent({id, event, data}) per dispatched event, onRetry(ms) for retry: fields, onChunk() per chunk read.
 */
async function readSse(body, onEvent, onRetry, onChunk) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let data = [];
  let event = '';
  let id = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      return;
    }
    onChunk();
    buffer += value;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buffer);
      if (!m) {
        break;
      }
      if (m[0] === '\r' && m.index === buffer.length - 1) {
        break; // maybe half of a \r\n: wait for more
      }
      const line = buffer.slice(0, m.index);
      buffer = buffer.slice(m.index + m[0].length);
      if (line === '') {
        if (id !== null) {
          state.lastEventId = id;
        }
        if (data.length) {
          onEvent({ id, event: event || 'message', data: data.join('\n') });
        }
        data = [];
        event = '';
        id = null;
        continue;
      }
      if (line.startsWith(':')) {
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? '' : line.slice(colon + 1);
      if (val.startsWith(' ')) {
        val = val.slice(1);
      }
      if (field === 'data') {
        data.push(val);
      } else if (field === 'event') {
        event = val;
      } else if (field === 'id' && !val.includes('\0')) {
        id = val;
      } else if (field === 'retry' && /^\d+$/.test(val)) {
        onRetry(Number(val));
      }
    }
  }
}

function onStreamEvent(message) {
  let payload;
  try {
    payload = JSON.parse(message.data);
  } catch {
    return;
  }
  if (payload?.event === 'call.permission_updated') {
    phoneOnPermission(payload);
    return;
  }
  if (payload?.event === 'call.recording_ready') {
    // Not a call object: the call's recording changed (ready or failed), the rest of the call did not.
    const call = state.calls.get(payload.callId);
    if (call && payload.recording) {
      state.calls.set(call.id, { ...call, recording: payload.recording });
      if (state.selectedId === call.id) {
        renderPanel();
      }
    }
    return;
  }
  if (!payload || typeof payload.id !== 'string' || typeof payload.status !== 'string') {
    return; // not a call event
  }
  const { event: _event, eventId: _eventId, sequence: _sequence, occurredAt: _at, ...call } = payload;
  upsert(call, { live: true });
}

function setConnection(kind) {
  const labels = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' };
  $('conn').dataset.state = kind;
  $('conn-text').textContent = labels[kind];
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/** Opens the stream and resolves once it is established (or rejects with the first failure). */
function startStream() {
  const controller = new AbortController();
  state.stream = controller;
  const { signal } = controller;
  let retryMs = 2000;
  let failures = 0;
  let established;
  const ready = new Promise((resolve, reject) => {
    established = { resolve, reject };
  });
  let first = true;

  (async () => {
    while (!signal.aborted) {
      // One controller per connection: aborted by sign-out, or by the watchdog when the stream goes silent.
      const connection = new AbortController();
      const stop = () => connection.abort();
      signal.addEventListener('abort', stop, { once: true });
      let watchdog;
      const alive = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(stop, STREAM_STALL_MS);
      };
      alive();
      try {
        const headers = { 'x-api-key': state.key, accept: 'text/event-stream' };
        if (state.lastEventId) {
          headers['last-event-id'] = state.lastEventId;
        }
        const res = await fetch('/v1/events/stream', { headers, signal: connection.signal, cache: 'no-store' });
        if (res.status === 400 && state.lastEventId) {
          state.lastEventId = null;
          continue;
        } // cursor gone: start afresh
        if (!res.ok) {
          const body = await res.json().catch(() => null);
          const error = new ApiError(res.status, body?.code ?? `HTTP_${res.status}`, body?.error ?? res.statusText);
          error.details = body?.details;
          throw error;
        }
        const resumed = !first;
        if (first) {
          first = false;
          established.resolve();
        }
        failures = 0;
        setConnection('live');
        // Without a cursor, events between the drop and now were missed: reload the list.
        if (resumed && !state.lastEventId) {
          void reloadCalls();
        }
        await readSse(
          res.body,
          onStreamEvent,
          (ms) => {
            retryMs = ms;
          },
          alive,
        );
      } catch (error) {
        if (signal.aborted) {
          return;
        }
        if (first) {
          first = false;
          established.reject(error);
          return;
        }
        if (error instanceof ApiError && error.status === 401) {
          signOut('The key is no longer valid.');
          return;
        }
        failures += 1;
      } finally {
        clearTimeout(watchdog);
        signal.removeEventListener('abort', stop);
      }
      if (signal.aborted) {
        return;
      }
      setConnection('reconnecting');
      await sleep(Math.min(retryMs * 2 ** Math.min(Math.max(failures - 1, 0), 4), 30_000), signal);
    }
  })();
  return ready;
}

// ------------------------------------------------------------------------------------------ softphone
// Answer and place calls from the browser (docs/spec/media.md §1). META and SANDBOX numbers carry audio here over
// WebRTC (the call's SDP offer → the browser's answer, or the browser's offer → the call's answer); EVO_GO numbers
// act through the API only (the phone or the calls add-on carries the audio). Only the tab that answered holds the
// media; the others hear about it over a BroadcastChannel and show "answered elsewhere".

const E164 = /^\+?[1-9][0-9]{6,14}$/;
/** How long the browser may gather ICE candidates before its SDP is sent as it is (Meta takes no trickle). */
const GATHER_MS = 3000;

const phone = {
  /** The key's own number: provider and whether it is a sandbox. */
  number: null,
  /** The call this tab holds media for: { callId, pc, mic, direction, remoteApplied, meter } */
  media: null,
  /** Call ids being answered in this tab (before the API said ACCEPTED). */
  answering: new Set(),
  /** A call is being placed from this tab (permission check, microphone, offer, POST /v1/calls). */
  placing: false,
  /** Call ids another tab of this browser is answering or holding. */
  elsewhere: new Set(),
  /** The Phone panel's list items, by call id. */
  items: new Map(),
  /** Call id → what this tab's accept, reject or hang-up request is doing to it (one at a time per call). */
  acting: new Map(),
  /** { callId, m, sdp }: an answer this tab pre-accepted whose accept failed, kept for Answer to retry. */
  preAccepted: null,
  channel: null,
  deviceId: '',
  /** The peer a permission request is pending for (digits). */
  asked: null,
};

const usesWebRtc = () => phone.number && (phone.number.provider === 'META' || phone.number.provider === 'SANDBOX');
const digitsOf = (text) => text.replace(/[^0-9]/g, '');
/**
 * This tab holds, answers or places a call: the media is set only once the SDP is sent, so a second Answer or Call
 * pressed meanwhile would start another call whose microphone and connection nothing ever closes.
 */
const phoneBusy = () => Boolean(phone.media) || phone.placing || phone.answering.size > 0;

function setDialStatus(text, kind = '') {
  const el = $('dial-status');
  el.textContent = text;
  el.className = `dial-status ${kind}`;
}

function broadcast(type, callId) {
  phone.channel?.postMessage({ type, callId });
}

async function phoneStart() {
  try {
    phone.number = await api('/v1/number');
  } catch {
    phone.number = null;
  }
  const n = phone.number;
  $('watched-name').textContent = n?.name ?? '';
  $('watched-phone').textContent = n?.phoneNumber ?? '';
  // A sandbox number's provider is its badge, beside the label.
  $('number-label').textContent = !n ? '' : [n.name, n.phoneNumber, ...(n.sandbox ? [] : [n.provider])].join(' · ');
  $('sandbox-badge').hidden = !n?.sandbox;
  $('sim-ring').hidden = !n?.sandbox;
  scheduleRender(); // the empty state's advice depends on the kind of number
  $('phone-note').textContent = !n
    ? ''
    : usesWebRtc()
      ? 'Audio in this browser (microphone and speaker).'
      : 'Answer and hang up here; the audio is on the phone or the calls add-on.';
  if ('BroadcastChannel' in window && !phone.channel) {
    phone.channel = new BroadcastChannel('callgate-softphone');
    phone.channel.addEventListener('message', (e) => {
      const { type, callId } = e.data ?? {};
      if (type === 'answering' || type === 'holding') {
        phone.elsewhere.add(callId);
      } else if (type === 'released') {
        phone.elsewhere.delete(callId);
      }
      renderPhone();
    });
  }
  renderPhone();
}

function phoneStop() {
  teardownMedia();
  dropPreAccepted();
  phone.number = null;
  phone.placing = false;
  phone.answering.clear();
  phone.elsewhere.clear();
  phone.items.clear();
  phone.acting.clear();
  $('incoming').replaceChildren();
  phone.asked = null;
  setDialStatus('');
  $('dial-permission').hidden = true;
}

/** Every stream or API update of a call passes here. */
function phoneOnCall(call) {
  const m = phone.media;
  if (m && m.callId === call.id) {
    if (TERMINAL.has(call.status)) {
      setDialStatus(endedText(call));
      teardownMedia();
    } else if (m.direction === 'OUTBOUND') {
      if (!m.remoteApplied) {
        void applyOutboundAnswer(call.id);
      }
      if (call.status === 'ACCEPTED' && !m.picked) {
        // "Calling +…" is over once the user picks up; later messages (a failed audio switch) stay.
        m.picked = true;
        setDialStatus('');
      }
    }
  }
  if (TERMINAL.has(call.status)) {
    phone.answering.delete(call.id);
    phone.elsewhere.delete(call.id);
  }
  if (call.status !== 'RINGING') {
    dropPreAccepted(call.id); // ended, or answered by someone else
  }
  renderPhone();
}

function endedText(call) {
  const by = call.endedBy ? ` by ${(ENDED_BY[call.endedBy] ?? call.endedBy).toLowerCase()}` : '';
  return `Call with ${peer(call)} ended: ${call.status.toLowerCase()}${by}.`;
}

function phoneOnPermission(payload) {
  if (phone.asked && payload.peerNumber === phone.asked) {
    const until = payload.expiresAt ? ` until ${fullFmt.format(new Date(payload.expiresAt))}` : '';
    if (payload.status === 'NO_PERMISSION') {
      setDialStatus(`+${payload.peerNumber} declined calls from this number.`, 'bad');
    } else {
      setDialStatus(
        `+${payload.peerNumber} allowed calls (${payload.status.toLowerCase()}${until}). Press Call.`,
        'ok',
      );
      $('dial-permission').hidden = true;
    }
    phone.asked = null;
  }
}

/** The buttons of a call in the Phone panel's list; wirePhone() handles their clicks. */
const PHONE_ACTIONS = {
  answer: (id) => h('button', { type: 'button', class: 'btn primary', dataset: { answer: id } }, 'Answer'),
  decline: (id) => h('button', { type: 'button', class: 'btn danger', dataset: { decline: id } }, 'Decline'),
  end: (id) => h('button', { type: 'button', class: 'btn danger', dataset: { end: id } }, 'Hang up'),
};

function renderPhone() {
  const list = $('incoming');
  const calls = [...state.calls.values()]
    .filter((c) => ACTIVE.has(c.status) && c.id !== phone.media?.callId)
    .filter((c) => c.direction === 'INBOUND' || c.status === 'ACCEPTED')
    .sort((a, b) => (a.startedAt < b.startedAt ? -1 : 1));
  const keep = new Set();
  let previous = null;
  for (const call of calls) {
    keep.add(call.id);
    const ringing = call.status === 'RINGING' && call.direction === 'INBOUND';
    let note = null;
    let actions = [];
    if (phone.acting.has(call.id)) {
      note = phone.acting.get(call.id);
    } else if (phone.answering.has(call.id)) {
      note = 'Answering…';
    } else if (ringing && phone.elsewhere.has(call.id)) {
      note = 'Being answered in another tab';
    } else if (ringing) {
      actions = ['answer', 'decline'];
    } else if (call.status === 'ACCEPTED') {
      note = usesWebRtc() ? 'Answered elsewhere' : 'Connected (audio on the phone)';
      actions = ['end'];
    }
    // This runs every second (the waiting time): an item is rebuilt only when what it offers changed, so a button
    // being pressed (or focused, or read out: the list is live) is not swapped for a copy under the pointer.
    const view = JSON.stringify([call.status, peer(call), note, actions]);
    let item = phone.items.get(call.id);
    if (!item) {
      item = h('li', { class: 'ring' });
      phone.items.set(call.id, item);
    }
    if (item.dataset.view !== view) {
      item.dataset.view = view;
      item.dataset.id = call.id;
      item.dataset.status = call.status;
      item.replaceChildren(
        h('span', { class: 'ring-peer' }, peer(call)),
        badge(call.status),
        ringing ? h('span', { class: 'ring-wait', title: 'Waiting' }) : '',
        note ? h('span', { class: 'ring-note' }, note) : '',
        h('span', { class: 'spacer' }),
        ...actions.map((action) => PHONE_ACTIONS[action](call.id)),
      );
    }
    const wait = item.querySelector('.ring-wait');
    if (wait) {
      wait.textContent = clock((now() - Date.parse(call.startedAt)) / 1000);
    }
    const expected = previous ? previous.nextSibling : list.firstChild;
    if (expected !== item) {
      list.insertBefore(item, expected);
    }
    previous = item;
  }
  for (const [id, item] of phone.items) {
    if (!keep.has(id)) {
      item.remove();
      phone.items.delete(id);
    }
  }

  const m = phone.media;
  $('oncall').hidden = !m;
  if (m) {
    const call = state.calls.get(m.callId);
    $('oncall-peer').textContent = call ? peer(call) : m.peer;
    const connection = m.pc.connectionState;
    $('oncall-state').textContent =
      call?.status === 'ACCEPTED'
        ? connection === 'connected'
          ? 'Connected'
          : `Connected · media ${connection}`
        : call?.status === 'RINGING'
          ? 'Ringing…'
          : 'Calling…';
    $('oncall-timer').textContent = call?.status === 'ACCEPTED' ? duration(call) : '0:00';
  }
}

async function getMic() {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error('This browser cannot use a microphone here (it needs https or localhost).');
  }
  const audio = phone.deviceId ? { deviceId: { exact: phone.deviceId } } : true;
  const mic = await navigator.mediaDevices.getUserMedia({ audio, video: false });
  void listDevices();
  return mic;
}

async function listDevices() {
  const select = /** @type {HTMLSelectElement} */ ($('mic-select'));
  const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audioinput');
  const current = phone.media?.mic.getAudioTracks()[0]?.getSettings().deviceId ?? phone.deviceId;
  select.replaceChildren(
    ...devices.map((d, i) =>
      h('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || `Microphone ${i + 1}`),
    ),
  );
}

function newPeerConnection(m) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.addEventListener('track', (e) => {
    m.remote = e.streams[0] ?? new MediaStream([e.track]);
    playRemote(m);
  });
  pc.addEventListener('connectionstatechange', () => {
    renderPhone();
    if (pc.connectionState === 'failed' && phone.media === m) {
      setDialStatus('The audio connection failed.', 'bad');
    }
  });
  return pc;
}

/** Resolves with the local SDP once ICE gathering completes, or after GATHER_MS with what was found. */
function gathered(pc) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve(pc.localDescription.sdp);
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') {
        done();
      }
    };
    const timer = setTimeout(done, GATHER_MS);
    pc.addEventListener('icegatheringstatechange', check);
    check();
  });
}

/** Mic level, drawn into the meter a few times a second. */
function startMeter(m) {
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  let source = context.createMediaStreamSource(m.mic);
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) {
      sum += s * s;
    }
    /** @type {HTMLMeterElement} */ ($('mic-level')).value = m.muted
      ? 0
      : Math.min(1, Math.sqrt(sum / samples.length) * 4);
  }, 100);
  m.meter = {
    context,
    timer,
    rewire(stream) {
      source.disconnect();
      source = context.createMediaStreamSource(stream);
      source.connect(analyser);
    },
  };
}

function playRemote(m) {
  const audio = /** @type {HTMLAudioElement} */ ($('remote-audio'));
  audio.srcObject = m.remote ?? null;
  audio.play().catch(() => undefined);
}

/** This tab stops showing, playing and metering its call's media; the connection and microphone stay open. */
function detachMedia() {
  const m = phone.media;
  if (!m) {
    return null;
  }
  phone.media = null;
  clearInterval(m.meter?.timer);
  m.meter?.context.close().catch(() => undefined);
  m.meter = null;
  const audio = /** @type {HTMLAudioElement} */ ($('remote-audio'));
  audio.srcObject = null;
  /** @type {HTMLMeterElement} */ ($('mic-level')).value = 0;
  const mute = $('mute');
  mute.setAttribute('aria-pressed', 'false');
  mute.textContent = 'Mute';
  return m;
}

function closeMedia(m) {
  for (const track of m.mic.getTracks()) {
    track.stop();
  }
  m.pc.close();
}

function teardownMedia() {
  const m = detachMedia();
  if (!m) {
    return;
  }
  broadcast('released', m.callId);
  closeMedia(m);
  renderPhone();
}

/** Closes the answer kept for a retry (of `callId`, or any), once it can no longer be used. */
function dropPreAccepted(callId = null) {
  const kept = phone.preAccepted;
  if (kept && (callId === null || kept.callId === callId)) {
    phone.preAccepted = null;
    closeMedia(kept.m);
  }
}

/**
 * Why Answer failed. A conflict means another tab, browser or program got to the call first (or it ended): the
 * API's words for that ("…pre-accepted with another answer; accept it") are advice for the one answering, not us.
 */
function answerFailureText(error) {
  const status = error instanceof ApiError && error.code === 'CALL_STATE_CONFLICT' ? error.details?.status : null;
  if (status === 'RINGING') {
    return 'the call is being answered elsewhere (CALL_STATE_CONFLICT)';
  }
  if (status === 'ACCEPTED') {
    return 'the call was answered elsewhere (CALL_STATE_CONFLICT)';
  }
  if (TERMINAL.has(status)) {
    return `the call has ended: ${status.toLowerCase()} (CALL_STATE_CONFLICT)`;
  }
  return failureText(error);
}

async function answer(callId) {
  const call = state.calls.get(callId);
  if (!call || phone.answering.has(callId)) {
    return;
  }
  if (!usesWebRtc()) {
    return apiAction(callId, 'accept', 'Answered');
  }
  if (phoneBusy()) {
    setDialStatus('Hang up the current call first.', 'bad');
    return;
  }
  phone.answering.add(callId);
  broadcast('answering', callId);
  renderPhone();
  // A retry after a failed accept reuses the pre-accepted answer; answering another call closes it.
  const kept = phone.preAccepted?.callId === callId ? phone.preAccepted : null;
  if (kept) {
    phone.preAccepted = null;
  } else {
    dropPreAccepted();
  }
  let m = kept?.m ?? null;
  let sdp = kept?.sdp ?? null;
  let preAccepted = Boolean(kept);
  try {
    if (m) {
      for (const track of m.mic.getAudioTracks()) {
        track.enabled = true;
      }
      playRemote(m);
    } else {
      const { sdpOffer } = await api(`/v1/calls/${encodeURIComponent(callId)}?includeSdp=1`);
      if (!sdpOffer) {
        throw new Error('the call has no SDP offer');
      }
      const mic = await getMic();
      m = { callId, peer: peer(call), mic, direction: 'INBOUND', remoteApplied: true, muted: false, pc: null };
      m.pc = newPeerConnection(m);
      for (const track of mic.getAudioTracks()) {
        m.pc.addTrack(track, mic);
      }
      await m.pc.setRemoteDescription({ type: 'offer', sdp: sdpOffer });
      await m.pc.setLocalDescription(await m.pc.createAnswer());
      sdp = await gathered(m.pc);
    }
    phone.media = m;
    startMeter(m);
    // Meta's order: pre-accept lets the media connect, accept (same SDP) answers the call.
    if (!preAccepted) {
      await api(`/v1/calls/${encodeURIComponent(callId)}/pre-accept`, { method: 'POST', body: { sdp } });
      preAccepted = true;
    }
    await api(`/v1/calls/${encodeURIComponent(callId)}/accept`, { method: 'POST', body: { sdp } });
    broadcast('holding', callId);
    setDialStatus('');
    upsert(await api(`/v1/calls/${encodeURIComponent(callId)}`));
  } catch (error) {
    setDialStatus(`Could not answer: ${answerFailureText(error)}`, 'bad');
    if (m && preAccepted && phone.media === m && state.calls.get(callId)?.status === 'RINGING') {
      // Pre-accepted with this SDP, the call takes no other in accept: keep it (microphone off) for a retry.
      detachMedia();
      for (const track of m.mic.getAudioTracks()) {
        track.enabled = false;
      }
      phone.preAccepted = { callId, m, sdp };
      broadcast('released', callId);
      setDialStatus(`Could not answer: ${failureText(error)}; press Answer to try again.`, 'bad');
    } else if (m && phone.media === m) {
      teardownMedia();
    } else if (m) {
      m.pc.close();
      for (const track of m.mic.getTracks()) {
        track.stop();
      }
      broadcast('released', callId);
    } else {
      broadcast('released', callId);
    }
  } finally {
    phone.answering.delete(callId);
    renderPhone();
  }
}

/** What the Phone panel says of a call while this tab's request acts on it. */
const ACTING = { accept: 'Answering…', reject: 'Declining…', terminate: 'Hanging up…' };

async function apiAction(callId, action, done) {
  if (phone.acting.has(callId)) {
    return; // pressed again (a double click): a second request would only come back as a 409 over the result
  }
  phone.acting.set(callId, ACTING[action]);
  renderPhone();
  try {
    const result = await api(`/v1/calls/${encodeURIComponent(callId)}/${action}`, { method: 'POST', body: {} });
    const fresh = await api(`/v1/calls/${encodeURIComponent(callId)}`);
    upsert(fresh);
    // The same words whether this answer or the live stream reports the end first.
    setDialStatus(TERMINAL.has(fresh.status) ? endedText(fresh) : `${done}: the call is ${result.status}.`, 'ok');
  } catch (error) {
    setDialStatus(`Could not ${action}: ${failureText(error)}`, 'bad');
  } finally {
    phone.acting.delete(callId);
    renderPhone();
  }
}

/** A sandbox number: a simulated user calls it, so the first call needs no terminal. It rings like any other. */
async function ringFromSimulatedUser() {
  const button = /** @type {HTMLButtonElement} */ ($('sim-ring-call'));
  if (button.disabled) {
    return;
  }
  button.disabled = true;
  try {
    const audio = /** @type {HTMLSelectElement} */ ($('sim-audio')).value;
    const { call } = await api('/v1/sandbox/calls', { method: 'POST', body: { audio } });
    setDialStatus(`A simulated user (+${call.peerNumber}) is calling: answer it above.`, 'ok');
  } catch (error) {
    setDialStatus(`Could not ring: ${failureText(error)}`, 'bad');
  } finally {
    button.disabled = false;
  }
}

async function dial(to) {
  if (!E164.test(to)) {
    setDialStatus('Enter the number in international format, e.g. +15551234567.', 'bad');
    return;
  }
  if (phone.placing) {
    return; // the same Call pressed again while the first press is still placing it
  }
  if (phoneBusy()) {
    setDialStatus('Hang up the current call first.', 'bad');
    return;
  }
  phone.placing = true;
  dropPreAccepted(); // one microphone at a time: calling out gives up an answer kept for a retry
  try {
    await placeCall(to);
  } finally {
    phone.placing = false;
  }
}

async function placeCall(to) {
  const e164 = `+${digitsOf(to)}`;
  if (!usesWebRtc()) {
    try {
      const created = await api('/v1/calls', { method: 'POST', body: { to: e164 } });
      setDialStatus(`Calling ${e164}: ${created.status}.`, 'ok');
    } catch (error) {
      setDialStatus(`Could not call: ${failureText(error)}`, 'bad');
    }
    return;
  }
  setDialStatus(`Checking whether ${e164} allows calls…`);
  let allowed = false;
  try {
    const p = await api(`/v1/calls/permissions?to=${encodeURIComponent(e164)}`);
    allowed = p.permission?.status === 'temporary' || p.permission?.status === 'permanent';
  } catch (error) {
    setDialStatus(`Could not check the permission: ${failureText(error)}`, 'bad');
    return;
  }
  if (!allowed) {
    setDialStatus(`${e164} has not allowed calls from this number yet.`, 'bad');
    $('dial-permission').hidden = false;
    return;
  }
  $('dial-permission').hidden = true;
  let m = null;
  try {
    const mic = await getMic();
    m = { callId: null, peer: e164, mic, direction: 'OUTBOUND', remoteApplied: false, muted: false, pc: null };
    m.pc = newPeerConnection(m);
    for (const track of mic.getAudioTracks()) {
      m.pc.addTrack(track, mic);
    }
    await m.pc.setLocalDescription(await m.pc.createOffer());
    const sdp = await gathered(m.pc);
    const created = await api('/v1/calls', { method: 'POST', body: { to: e164, sdp } });
    m.callId = created.id;
    phone.media = m;
    broadcast('holding', created.id);
    startMeter(m);
    setDialStatus(`Calling ${e164}…`);
    upsert(await api(`/v1/calls/${encodeURIComponent(created.id)}`));
    void pollOutboundAnswer(m);
  } catch (error) {
    setDialStatus(`Could not call: ${failureText(error)}`, 'bad');
    if (m && phone.media === m) {
      teardownMedia();
    } else if (m) {
      m.pc.close();
      for (const track of m.mic.getTracks()) {
        track.stop();
      }
    }
  }
  renderPhone();
}

/** The answer SDP arrives with the provider's `connect`; the stream says the call moved, the API gives the SDP. */
async function applyOutboundAnswer(callId) {
  const m = phone.media;
  if (!m || m.callId !== callId || m.remoteApplied || m.fetching) {
    return;
  }
  m.fetching = true;
  try {
    const call = await api(`/v1/calls/${encodeURIComponent(callId)}?includeSdp=1`);
    if (call.sdpAnswer && phone.media === m && !m.remoteApplied) {
      m.remoteApplied = true;
      await m.pc.setRemoteDescription({ type: 'answer', sdp: call.sdpAnswer });
    }
  } catch (error) {
    setDialStatus(`Could not connect the audio: ${error.message}`, 'bad');
  } finally {
    m.fetching = false;
  }
}

/** A backstop for a missed stream event: look for the answer every second while the call rings. */
async function pollOutboundAnswer(m) {
  while (phone.media === m && !m.remoteApplied) {
    await applyOutboundAnswer(m.callId);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function askPermission() {
  const to = /** @type {HTMLInputElement} */ ($('dial-to')).value.trim();
  if (!E164.test(to)) {
    setDialStatus('Enter the number in international format first.', 'bad');
    return;
  }
  const e164 = `+${digitsOf(to)}`;
  try {
    await api('/v1/calls/permissions/request', { method: 'POST', body: { to: e164 } });
    phone.asked = digitsOf(to);
    setDialStatus(`Asked ${e164} for permission; waiting for the reply…`);
  } catch (error) {
    setDialStatus(`Could not ask: ${failureText(error)}`, 'bad');
  }
}

function toggleMute() {
  const m = phone.media;
  if (!m) {
    return;
  }
  m.muted = !m.muted;
  for (const track of m.mic.getAudioTracks()) {
    track.enabled = !m.muted;
  }
  const button = $('mute');
  button.setAttribute('aria-pressed', String(m.muted));
  button.textContent = m.muted ? 'Unmute' : 'Mute';
}

async function switchMic(deviceId) {
  phone.deviceId = deviceId;
  const m = phone.media;
  if (!m) {
    return;
  }
  try {
    const mic = await navigator.mediaDevices.getUserMedia({ audio: { deviceId: { exact: deviceId } }, video: false });
    const track = mic.getAudioTracks()[0];
    track.enabled = !m.muted;
    const sender = m.pc.getSenders().find((s) => s.track?.kind === 'audio');
    await sender?.replaceTrack(track);
    for (const old of m.mic.getTracks()) {
      old.stop();
    }
    m.mic = mic;
    m.meter?.rewire(mic);
  } catch (error) {
    setDialStatus(`Could not switch the microphone: ${error.message}`, 'bad');
  }
}

function wirePhone() {
  $('incoming').addEventListener('click', (e) => {
    const button = /** @type {HTMLElement} */ (e.target).closest('button');
    if (!button) {
      return;
    }
    if (button.dataset.answer) {
      void answer(button.dataset.answer);
    } else if (button.dataset.decline) {
      void apiAction(button.dataset.decline, 'reject', 'Declined');
    } else if (button.dataset.end) {
      void apiAction(button.dataset.end, 'terminate', 'Hung up');
    }
  });
  $('oncall-hangup').addEventListener('click', () => {
    const m = phone.media;
    if (!m?.callId) {
      teardownMedia();
      return;
    }
    void apiAction(m.callId, 'terminate', 'Hung up');
  });
  $('mute').addEventListener('click', toggleMute);
  $('mic-select').addEventListener('change', (e) => void switchMic(/** @type {HTMLSelectElement} */ (e.target).value));
  $('dialer').addEventListener('submit', (e) => {
    e.preventDefault();
    void dial(/** @type {HTMLInputElement} */ ($('dial-to')).value.trim());
  });
  $('dial-permission').addEventListener('click', () => void askPermission());
  $('sim-ring-call').addEventListener('click', () => void ringFromSimulatedUser());
  $('keypad').addEventListener('click', (e) => {
    const key = /** @type {HTMLElement} */ (e.target).closest('button')?.dataset.digit;
    const input = /** @type {HTMLInputElement} */ ($('dial-to'));
    if (key === 'back') {
      input.value = input.value.slice(0, -1);
    } else if (key) {
      input.value += key;
    }
    input.focus();
  });
  $('dial-to').addEventListener('input', () => {
    $('dial-permission').hidden = true;
  });
  // A tab closed while it answers (at the microphone prompt, say) must not leave the others without Answer.
  window.addEventListener('pagehide', () => {
    for (const callId of [phone.media?.callId, ...phone.answering]) {
      if (callId) {
        broadcast('released', callId);
      }
    }
  });
}

// ------------------------------------------------------------------------------------- sign in / out

/** The newest page of calls, merged into what is shown (on sign-in, and after a stream gap). */
async function reloadCalls({ initial = false } = {}) {
  const session = state.session;
  const { calls } = await api(`/v1/calls?limit=${PAGE_SIZE}`);
  if (session !== state.session) {
    return;
  }
  for (const call of calls) {
    upsert(call);
  }
  if (initial) {
    state.hasMore = calls.length === PAGE_SIZE;
  }
  scheduleRender();
}

async function loadMore() {
  if (state.loadingMore) {
    return;
  }
  // With a filter, the next page is the server's next page of matches, after the oldest match shown.
  const filtered = state.searchHasMore !== null;
  const { status, q } = currentFilters();
  const plan = filtered ? searchPlan({ status, q }) : { query: null };
  const list = filtered ? sorted().filter((c) => matches(c, status, q.toLowerCase())) : sorted();
  const oldest = list.at(-1);
  if (!oldest || (filtered && !plan.query)) {
    return;
  }
  state.loadingMore = true;
  const button = /** @type {HTMLButtonElement} */ ($('load-more'));
  button.disabled = true;
  try {
    const { calls } = await api(
      `/v1/calls?limit=${PAGE_SIZE}&before=${encodeURIComponent(oldest.id)}${plan.query ? `&${plan.query}` : ''}`,
    );
    for (const call of calls) {
      upsert(call);
    }
    if (filtered) {
      state.searchHasMore = calls.length === PAGE_SIZE;
    } else {
      state.hasMore = calls.length === PAGE_SIZE;
    }
    scheduleRender();
  } catch (error) {
    announce(`Could not load older calls: ${error.message}`);
  } finally {
    state.loadingMore = false;
    button.disabled = false;
  }
}

function loginMessage(error) {
  if (error.status === 401) {
    return 'This key is not valid.';
  }
  if (error.status === 429) {
    return 'Too many requests with this key; try again in a moment.';
  }
  return error.message || 'Sign-in failed.';
}

async function signIn(key) {
  state.key = key;
  state.session += 1;
  const session = state.session;
  setConnection('connecting');
  try {
    // Which kind of key this is, from a route every key may call: trying the calls first had a tenant key refused
    // (a 403 in the browser's console at every tenant sign-in).
    const current = await api('/v1/api-keys/current');
    if (session !== state.session) {
      return;
    }
    if (current.scope === 'tenant') {
      // A tenant key has no calls to watch: it manages the numbers.
      await signInTenant(key, session);
      return;
    }
    // Stream first, then the list: nothing committed in between is missed (newer versions win on merge).
    await startStream();
    await reloadCalls({ initial: true });
  } catch (error) {
    if (session !== state.session) {
      return;
    }
    state.stream?.abort();
    state.key = null;
    sessionStorage.removeItem(KEY_STORAGE);
    throw error;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
  void phoneStart();
  $('key-label').textContent = `Key ${maskKey(key)}`;
  $('login-view').hidden = true;
  $('calls-view').hidden = false;
  $('session').hidden = false;
  $('filter-text').focus();
  void applyRoute();
}

// -------------------------------------------------------------------------------- numbers (tenant key)

async function signInTenant(key, session) {
  try {
    await loadNumbers();
  } catch (error) {
    if (session === state.session) {
      state.key = null;
      sessionStorage.removeItem(KEY_STORAGE);
    }
    throw error;
  }
  if (session !== state.session) {
    return;
  }
  state.tenant = true;
  sessionStorage.setItem(KEY_STORAGE, key);
  $('key-label').textContent = `Tenant key ${maskKey(key)}`;
  $('conn').hidden = true;
  $('login-view').hidden = true;
  $('tenant-nav').hidden = false;
  $('session').hidden = false;
  applyTenantRoute();
  if (!$('numbers-view').hidden) {
    $('nf-name').focus();
  }
}

const webhooks = webhooksPage({
  api,
  h,
  announce,
  session: () => state.session,
  isCurrent: (session) => session === state.session,
});

/** A tenant's addresses: #/webhooks and #/webhooks/<id>; anything else is the Numbers page. */
function applyTenantRoute() {
  const [path = '', search = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const match = /^webhooks(?:\/([^/]+))?$/.exec(path);
  $('numbers-view').hidden = Boolean(match);
  $('webhooks-view').hidden = !match;
  for (const [id, current] of [
    ['nav-numbers', !match],
    ['nav-webhooks', Boolean(match)],
  ]) {
    if (current) {
      $(id).setAttribute('aria-current', 'page');
    } else {
      $(id).removeAttribute('aria-current');
    }
  }
  if (!match) {
    webhooks.hide();
    return;
  }
  let id = null;
  try {
    id = match[1] ? decodeURIComponent(match[1]) : null;
  } catch {
    id = null;
  }
  void webhooks.show(id, new URLSearchParams(search).get('number') ?? '');
}

async function loadNumbers() {
  const numbers = await api('/v1/numbers');
  $('numbers-summary').textContent = `${numbers.length} number${numbers.length === 1 ? '' : 's'}`;
  $('numbers-body').replaceChildren(
    ...numbers.map((n) =>
      h(
        'tr',
        { dataset: { id: n.id } },
        h('td', { class: 'number-name' }, n.name, h('span', { class: 'id mono' }, n.id)),
        h('td', { class: 'mono' }, n.phoneNumber),
        h('td', {}, n.sandbox ? h('span', { class: 'sandbox-badge' }, 'SANDBOX') : n.provider),
        h('td', {}, n.state),
        h(
          'td',
          { class: 'actions' },
          n.provider === 'EVO_GO' && n.state !== 'OPEN'
            ? h(
                'button',
                {
                  type: 'button',
                  class: 'btn ghost small',
                  'aria-label': `Pair ${n.name} by QR`,
                  onclick: () => void pairing.reconnect(n),
                },
                'Pair by QR',
              )
            : '',
          h(
            'button',
            {
              type: 'button',
              class: 'btn ghost small',
              'aria-label': `Rotate the key of ${n.name}`,
              onclick: () => void rotateKey(n),
            },
            'Rotate key',
          ),
          h(
            'button',
            {
              type: 'button',
              class: 'btn danger small',
              'aria-label': `Delete ${n.name}`,
              onclick: () => void deleteNumber(n),
            },
            'Delete',
          ),
        ),
      ),
    ),
  );
}

/** A key is shown once, here, until the next action: the server keeps only its hash. */
function showIssued(text, key) {
  $('issued').hidden = false;
  $('issued-text').textContent = text;
  $('issued-key').textContent = key;
}

async function rotateKey(n) {
  if (!window.confirm(`Rotate the key of ${n.name}? The current key stops working at once.`)) {
    return;
  }
  try {
    const issued = await api(`/v1/api-keys/${encodeURIComponent(n.id)}/regenerate`, { method: 'POST', body: {} });
    showIssued(`New key for ${n.name} (shown once; the old one no longer works):`, issued.key);
  } catch (error) {
    announceNumbers(`Could not rotate the key: ${error.message}`);
  }
}

async function deleteNumber(n) {
  if (
    !window.confirm(`Delete ${n.name} (${n.phoneNumber})? Its key stops working and its calls are no longer listed.`)
  ) {
    return;
  }
  try {
    await api(`/v1/numbers/${encodeURIComponent(n.id)}`, { method: 'DELETE' });
    $('issued').hidden = true;
    await loadNumbers();
    announceNumbers(`${n.name} deleted.`);
  } catch (error) {
    announceNumbers(`Could not delete ${n.name}: ${error.message}`);
  }
}

function announceNumbers(text) {
  $('numbers-summary').textContent = text;
  announce(text);
}

/** The API's body for the form: only the fields the chosen provider takes. */
function numberBody() {
  const value = (id) => /** @type {HTMLInputElement} */ ($(id)).value.trim();
  const provider = value('nf-provider');
  if (provider === 'EVO_GO') {
    // A web number is created on callgate's Evolution Go server and paired by QR (Pilot's body).
    return { name: value('nf-name'), number: value('nf-phone') };
  }
  const body = { name: value('nf-name'), provider };
  if (value('nf-phone')) {
    body.phoneNumber = value('nf-phone');
  }
  if (provider === 'META') {
    body.meta = {
      phoneNumberId: value('nf-phone-number-id'),
      accessToken: value('nf-access-token'),
      appSecret: value('nf-app-secret'),
      verifyToken: value('nf-verify-token'),
      ...(value('nf-waba-id') ? { wabaId: value('nf-waba-id') } : {}),
    };
  }
  return body;
}

async function createNumber() {
  const error = $('nf-error');
  error.textContent = '';
  const body = numberBody();
  if (!body.name) {
    error.textContent = 'Give the number a name.';
    $('nf-name').focus();
    return;
  }
  if ('number' in body && !body.number) {
    error.textContent = 'A web number needs its phone number: the WhatsApp account to pair.';
    $('nf-phone').focus();
    return;
  }
  const button = /** @type {HTMLButtonElement} */ ($('nf-submit'));
  button.disabled = true;
  try {
    const created = await api('/v1/numbers', { method: 'POST', body });
    /** @type {HTMLFormElement} */ ($('number-form')).reset();
    $('nf-meta').hidden = true;
    if (created.apiKey) {
      showIssued(`${created.number.name} is ready. Its key (shown once):`, created.apiKey.key);
    }
    if (created.number.provider === 'EVO_GO') {
      pairing.watch(created.number, created);
    }
    await loadNumbers();
  } catch (err) {
    // The server names each field it refused; show that text as is.
    const details = err.details ? ` ${JSON.stringify(err.details)}` : '';
    error.textContent = `${err.message}${details}`;
  } finally {
    button.disabled = false;
  }
}

const pairing = webNumberPairing({ api, announce, onConnected: () => loadNumbers() });

function wireNumbers() {
  pairing.wire();
  $('number-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void createNumber();
  });
  $('nf-provider').addEventListener('change', (e) => {
    $('nf-meta').hidden = /** @type {HTMLSelectElement} */ (e.target).value !== 'META';
  });
}

function signOut(message = '') {
  phoneStop();
  state.stream?.abort();
  state.stream = null;
  state.session += 1;
  state.key = null;
  state.calls.clear();
  state.rows.clear();
  state.fresh.clear();
  $('watched-name').textContent = '';
  $('watched-phone').textContent = '';
  state.selectedId = null;
  recording.reset();
  state.lastEventId = null;
  state.hasMore = false;
  state.searchHasMore = null;
  state.searching = false;
  sessionStorage.removeItem(KEY_STORAGE);
  state.tenant = false;
  $('conn').hidden = false;
  $('numbers-view').hidden = true;
  $('tenant-nav').hidden = true;
  $('webhooks-view').hidden = true;
  webhooks.reset();
  pairing.close();
  // The next person at this browser must not find the last key shown once, nor provider secrets typed here.
  $('issued').hidden = true;
  $('issued-key').textContent = '';
  /** @type {HTMLFormElement} */ ($('number-form')).reset();
  $('nf-meta').hidden = true;
  $('nf-error').textContent = '';
  $('numbers-body').replaceChildren();
  $('calls-body').replaceChildren();
  $('panel').hidden = true;
  $('calls-view').hidden = true;
  $('session').hidden = true;
  $('login-view').hidden = false;
  $('login-error').textContent = message;
  const input = /** @type {HTMLInputElement} */ ($('api-key'));
  input.value = '';
  input.focus();
}

function announce(text) {
  const el = $('announcer');
  el.textContent = '';
  setTimeout(() => {
    el.textContent = text;
  }, 50);
}

// -------------------------------------------------------------------------------------------- wiring

function wire() {
  const form = /** @type {HTMLFormElement} */ ($('login-form'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = /** @type {HTMLInputElement} */ ($('api-key'));
    const key = input.value.trim();
    const error = $('login-error');
    if (!key) {
      error.textContent = 'Enter an API key.';
      input.focus();
      return;
    }
    const button = /** @type {HTMLButtonElement} */ ($('login-submit'));
    button.disabled = true;
    button.textContent = 'Checking…';
    error.textContent = '';
    try {
      await signIn(key);
      input.value = '';
    } catch (err) {
      error.textContent = loginMessage(err);
      input.select();
    } finally {
      button.disabled = false;
      button.textContent = 'Open dashboard';
    }
  });

  $('logout').addEventListener('click', () => signOut());
  const filtersChanged = () => {
    state.notice = null;
    writeHash(state.selectedId, { push: false });
    scheduleRender();
    scheduleSearch();
  };
  $('filter-status').addEventListener('change', filtersChanged);
  $('filter-text').addEventListener('input', filtersChanged);
  window.addEventListener('popstate', () => void applyRoute());
  window.addEventListener('hashchange', () => void applyRoute());
  $('load-more').addEventListener('click', loadMore);
  $('panel-close').addEventListener('click', closePanel);
  $('panel-hangup').addEventListener('click', (e) => confirmHangUp(state.selectedId, e.currentTarget));
  $('calls-body').addEventListener('click', (e) => {
    const row = /** @type {HTMLElement} */ (e.target).closest('tr');
    if (row?.dataset.id) {
      select(row.dataset.id);
    }
  });
  $('confirm-cancel').addEventListener('click', () => {
    pendingHangUp = null;
    /** @type {HTMLDialogElement} */
    ($('confirm')).close();
  });
  $('confirm').addEventListener('close', () => {
    pendingHangUp = null;
  });
  $('confirm-ok').addEventListener('click', hangUp);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('panel').hidden && !(/** @type {HTMLDialogElement} */ ($('confirm')).open)) {
      closePanel();
    }
  });
  wirePhone();
  wireNumbers();
  webhooks.wire();
  recording.wire();
  setInterval(tick, 1000);

  const saved = sessionStorage.getItem(KEY_STORAGE);
  if (saved) {
    signIn(saved).catch((err) => {
      $('login-error').textContent = loginMessage(err);
    });
  } else {
    $('api-key').focus();
  }
}

wire();
