// The Webhooks page (tenant key): list, create, pause/resume, rotate, delete, and per webhook its delivery log with
// replay. Addresses #/webhooks and #/webhooks/<id>. Only the public API; every refusal is shown on the page.
// app.js hands in its helpers (api, h, announce), so this module holds no session of its own.

/** The log is read again this often while a webhook is open: retries and replays land without a click. */
const LOG_REFRESH_MS = 3000;

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const at = (iso) => (iso ? fullFmt.format(new Date(iso)) : '—');

/** active, paused (by the customer) or disabled (by the service after a 410). */
export function webhookState(w) {
  return w.active ? 'active' : w.disabledReason ? 'disabled' : 'paused';
}

/** The API's refusal in words: its text, its code, and the fields it named. */
export function errorText(error) {
  const details = error.details ? ` ${JSON.stringify(error.details)}` : '';
  return `${error.message}${error.code ? ` (${error.code})` : ''}${details}`;
}

/**
 * @param {{ api: Function, h: Function, announce: (text: string) => void, isCurrent: (session: number) => boolean,
 *   session: () => number }} deps
 */
export function webhooksPage({ api, h, announce, isCurrent, session }) {
  const page = {
    /** @type {any[]} */
    webhooks: [],
    /** @type {Map<string, any>} number id → number */
    numbers: new Map(),
    /** @type {{ name: string, description: string }[]} */
    eventTypes: [],
    openId: null,
    timer: null,
    /** Only this number's webhooks are listed ('' for all): the address says which (#/webhooks?number=). */
    numberFilter: '',
  };

  const path = (id, rest = '') => `/v1/webhooks/${encodeURIComponent(id)}${rest}`;

  function showError(text) {
    $('webhooks-error').textContent = text;
    if (text) {
      announce(text);
    }
  }

  /** A secret is shown here once (creation or rotation) until the next action: the server never shows it again. */
  function showSecret(text, secret) {
    $('wh-secret-box').hidden = false;
    $('wh-secret-text').textContent = text;
    $('wh-secret').textContent = secret;
    $('wh-copy').textContent = 'Copy';
  }

  function hideSecret() {
    $('wh-secret-box').hidden = true;
    $('wh-secret').textContent = '';
  }

  async function copySecret() {
    const secret = $('wh-secret').textContent ?? '';
    try {
      await navigator.clipboard.writeText(secret);
      $('wh-copy').textContent = 'Copied';
      announce('Secret copied to the clipboard.');
    } catch {
      // No clipboard (permission refused): select it so Ctrl+C works.
      getSelection()?.selectAllChildren($('wh-secret'));
      $('wh-copy').textContent = 'Press Ctrl+C';
    }
  }

  function numberLabel(id) {
    const n = page.numbers.get(id);
    return n ? `${n.name} (${n.phoneNumber})` : id;
  }

  function stateBadge(w) {
    const s = webhookState(w);
    return h(
      'span',
      { class: `badge w-${s}`, dataset: { state: s }, title: w.disabledReason ?? undefined },
      s.toUpperCase(),
    );
  }

  function actionButtons(w) {
    const label = w.name ?? w.url;
    return [
      h(
        'button',
        {
          type: 'button',
          class: 'btn ghost small',
          'aria-label': `${w.active ? 'Pause' : 'Resume'} ${label}`,
          onclick: () => void setActive(w, !w.active),
        },
        w.active ? 'Pause' : 'Resume',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'btn ghost small',
          'aria-label': `Rotate the secret of ${label}`,
          onclick: () => void rotate(w),
        },
        'Rotate secret',
      ),
      h(
        'button',
        { type: 'button', class: 'btn danger small', 'aria-label': `Delete ${label}`, onclick: () => void remove(w) },
        'Delete',
      ),
    ];
  }

  function renderList() {
    const count = page.webhooks.length;
    const shown = page.numberFilter
      ? page.webhooks.filter((w) => w.whatsappNumberId === page.numberFilter)
      : page.webhooks;
    $('webhooks-summary').textContent =
      shown.length === count ? `${count} webhook${count === 1 ? '' : 's'}` : `${shown.length} of ${count} webhooks`;
    $('webhooks-empty').hidden = shown.length > 0;
    $('webhooks-body').replaceChildren(
      ...shown.map((w) =>
        h(
          'tr',
          { dataset: { id: w.id } },
          h(
            'td',
            { class: 'number-name' },
            h(
              'a',
              {
                class: 'link',
                href: `#/webhooks/${encodeURIComponent(w.id)}`,
                'aria-label': `Open ${w.name ?? w.url}`,
              },
              w.name ?? w.url,
            ),
            h('span', { class: 'id mono wh-url' }, w.name ? w.url : w.id),
          ),
          h('td', {}, numberLabel(w.whatsappNumberId)),
          h('td', { class: 'mono wh-events' }, w.events.length ? w.events.join(', ') : 'none'),
          h('td', {}, stateBadge(w)),
          h('td', { title: w.lastTriggered ?? undefined }, at(w.lastTriggered)),
          h('td', { class: 'actions' }, h('div', { class: 'row-actions' }, ...actionButtons(w))),
        ),
      ),
    );
  }

  function renderFilter() {
    const filter = /** @type {HTMLSelectElement} */ ($('wh-filter-number'));
    filter.replaceChildren(
      h('option', { value: '' }, 'All numbers'),
      ...[...page.numbers.values()].map((n) => h('option', { value: n.id }, `${n.name} (${n.phoneNumber})`)),
    );
    // A number that is not (or no longer) the tenant's shows everything rather than an empty list.
    page.numberFilter = page.numbers.has(page.numberFilter) ? page.numberFilter : '';
    filter.value = page.numberFilter;
  }

  function filterChanged() {
    page.numberFilter = /** @type {HTMLSelectElement} */ ($('wh-filter-number')).value;
    history.replaceState(
      null,
      '',
      page.numberFilter ? `#/webhooks?number=${encodeURIComponent(page.numberFilter)}` : '#/webhooks',
    );
    if (page.numberFilter) {
      /** @type {HTMLSelectElement} */ ($('wf-number')).value = page.numberFilter;
    }
    renderList();
  }

  function renderForm() {
    const select = /** @type {HTMLSelectElement} */ ($('wf-number'));
    const chosen = select.value || page.numberFilter;
    select.replaceChildren(
      ...[...page.numbers.values()].map((n) => h('option', { value: n.id }, `${n.name} (${n.phoneNumber})`)),
    );
    if (page.numbers.has(chosen)) {
      select.value = chosen;
    }
    const checked = new Set(
      [...document.querySelectorAll('#wf-events input:checked')].map((i) => /** @type {HTMLInputElement} */ (i).value),
    );
    const box = (name, text, description) =>
      h(
        'label',
        { class: 'check', title: description },
        h('input', { type: 'checkbox', name: 'events', value: name, checked: checked.has(name) }),
        h('span', {}, text),
      );
    $('wf-events-list').replaceChildren(
      box('*', 'All events (*)', 'Every event, including ones added later'),
      ...page.eventTypes.map((e) => box(e.name, e.name, e.description)),
    );
  }

  /** Reads the numbers, the event names and the webhooks; shows a refusal instead of an empty page. */
  async function load() {
    const current = session();
    try {
      const [numbers, types, webhooks] = await Promise.all([
        api('/v1/numbers'),
        page.eventTypes.length ? { events: page.eventTypes } : api('/v1/webhooks/event-types'),
        api('/v1/webhooks'),
      ]);
      if (!isCurrent(current)) {
        return;
      }
      page.numbers = new Map(numbers.map((n) => [n.id, n]));
      page.eventTypes = types.events;
      page.webhooks = webhooks;
      renderFilter();
      renderList();
      renderForm();
    } catch (error) {
      if (isCurrent(current)) {
        showError(`Could not load the webhooks: ${errorText(error)}`);
      }
    }
  }

  async function create() {
    const error = $('wf-error');
    error.textContent = '';
    const value = (id) => /** @type {HTMLInputElement} */ ($(id)).value.trim();
    const events = [...document.querySelectorAll('#wf-events input:checked')].map(
      (i) => /** @type {HTMLInputElement} */ (i).value,
    );
    const body = {
      whatsappNumberId: value('wf-number'),
      url: value('wf-url'),
      events: events.includes('*') ? ['*'] : events,
      ...(value('wf-name') ? { name: value('wf-name') } : {}),
    };
    if (!body.whatsappNumberId) {
      error.textContent = 'A webhook belongs to a number: add one on the Numbers page first.';
      return;
    }
    if (!body.url) {
      error.textContent = 'Enter the URL deliveries go to.';
      $('wf-url').focus();
      return;
    }
    if (body.events.length === 0) {
      error.textContent = 'Pick at least one event: a webhook without events receives nothing.';
      return;
    }
    const button = /** @type {HTMLButtonElement} */ ($('wf-submit'));
    button.disabled = true;
    try {
      const created = await api('/v1/webhooks', { method: 'POST', body });
      /** @type {HTMLFormElement} */ ($('webhook-form')).reset();
      showError('');
      showSecret(
        `${created.name ?? created.url} is registered. Its signing secret, shown this once — keep it with your receiver:`,
        created.secret,
      );
      await load();
    } catch (err) {
      error.textContent = errorText(err);
    } finally {
      button.disabled = false;
    }
  }

  async function setActive(w, active) {
    hideSecret();
    try {
      await api(path(w.id), { method: 'PATCH', body: { active } });
      showError('');
      announce(`${w.name ?? w.url} ${active ? 'resumed' : 'paused'}.`);
      await refresh();
    } catch (error) {
      showError(`Could not ${active ? 'resume' : 'pause'} ${w.name ?? w.url}: ${errorText(error)}`);
    }
  }

  async function rotate(w) {
    const label = w.name ?? w.url;
    if (!window.confirm(`Rotate the signing secret of ${label}? For 24 hours deliveries carry both signatures.`)) {
      return;
    }
    try {
      const rotated = await api(path(w.id, '/rotate-secret'), { method: 'POST', body: {} });
      showError('');
      showSecret(
        `New signing secret of ${label}, shown this once. The old one also signs until ${at(rotated.previousSecretExpiresAt)}:`,
        rotated.secret,
      );
    } catch (error) {
      showError(`Could not rotate the secret of ${label}: ${errorText(error)}`);
    }
  }

  async function remove(w) {
    const label = w.name ?? w.url;
    if (!window.confirm(`Delete ${label}? Its pending deliveries and its log are deleted too.`)) {
      return;
    }
    hideSecret();
    try {
      await api(path(w.id), { method: 'DELETE' });
      showError('');
      announce(`${label} deleted.`);
      if (page.openId === w.id) {
        location.hash = '#/webhooks';
      }
      await load();
    } catch (error) {
      showError(`Could not delete ${label}: ${errorText(error)}`);
    }
  }

  // ------------------------------------------------------------------------------------ one webhook

  function renderDetail(w) {
    $('wd-title').textContent = w.name ?? w.url;
    const fact = (term, ...value) => [h('dt', {}, term), h('dd', {}, ...value)];
    $('wd-facts').replaceChildren(
      ...fact('URL', h('span', { class: 'mono wrap' }, w.url)),
      ...fact('Id', h('span', { class: 'mono wrap' }, w.id)),
      ...fact('Number', numberLabel(w.whatsappNumberId)),
      ...fact('Events', h('span', { class: 'mono' }, w.events.length ? w.events.join(', ') : 'none')),
      ...fact('State', stateBadge(w), w.disabledReason ? h('span', { class: 'muted' }, ` ${w.disabledReason}`) : ''),
      ...fact('Last delivery', at(w.lastTriggered)),
    );
    $('wd-actions').replaceChildren(...actionButtons(w));
  }

  function result(entry) {
    if (entry.statusCode !== null) {
      return `HTTP ${entry.statusCode}`;
    }
    return entry.error ?? 'no answer';
  }

  function logRow(entry) {
    const ok = entry.status === 'SUCCESS';
    return h(
      'tr',
      { dataset: { id: entry.id, status: entry.status } },
      h('td', { title: entry.createdAt }, at(entry.createdAt)),
      h(
        'td',
        {},
        h(
          'div',
          { class: 'wd-event' },
          h('span', { class: 'mono' }, entry.event),
          h('span', { class: 'event-id mono' }, entry.eventId),
        ),
      ),
      h('td', { class: 'num' }, String(entry.attempt)),
      h(
        'td',
        {},
        h('span', { class: `badge ${ok ? 'w-active' : 'w-failed'}`, dataset: { state: entry.status } }, entry.status),
        // An HTTP status and a duration are read as one ("HTTP 200 · 4 ms"): kept on one line, under the badge if
        // need be. A network error's long text still wraps (the cell's own rule).
        h(
          'span',
          { class: `muted wd-result${entry.statusCode !== null ? ' unbroken' : ''}` },
          ` ${result(entry)} · ${entry.durationMs} ms`,
        ),
      ),
      h('td', { class: 'next-retry' }, entry.nextAttemptAt ? at(entry.nextAttemptAt) : '—'),
      h(
        'td',
        { class: 'wd-bodies' },
        h(
          'details',
          {},
          h('summary', {}, 'Response and payload'),
          h('h4', {}, 'Response body'),
          h('pre', { class: 'response-body' }, entry.response ?? '(none)'),
          h('h4', {}, 'Payload sent'),
          h('pre', { class: 'payload' }, JSON.stringify(entry.payload, null, 2)),
        ),
      ),
      h(
        'td',
        { class: 'actions' },
        h(
          'button',
          {
            type: 'button',
            class: 'btn ghost small',
            'aria-label': `Replay ${entry.event} ${entry.eventId}`,
            onclick: () => void replay(entry),
          },
          'Replay',
        ),
      ),
    );
  }

  async function loadLog() {
    const id = page.openId;
    const current = session();
    if (!id) {
      return;
    }
    try {
      const [w, { logs }] = await Promise.all([api(path(id)), api(path(id, '/logs?limit=50'))]);
      if (!isCurrent(current) || page.openId !== id) {
        return;
      }
      $('wd-error').textContent = '';
      renderDetail(w);
      // Open bodies stay open across a refresh.
      const open = new Set(
        [...document.querySelectorAll('#deliveries-body details[open]')].map((d) => d.closest('tr')?.dataset.id),
      );
      $('deliveries-body').replaceChildren(...logs.map(logRow));
      for (const row of document.querySelectorAll('#deliveries-body tr')) {
        if (open.has(/** @type {HTMLElement} */ (row).dataset.id)) {
          row.querySelector('details')?.setAttribute('open', '');
        }
      }
      $('wd-summary').textContent = logs.length
        ? `${logs.length} attempt${logs.length === 1 ? '' : 's'}, newest first`
        : 'No delivery yet: attempts appear here as events of this number are sent.';
    } catch (error) {
      if (!isCurrent(current) || page.openId !== id) {
        return;
      }
      if (error.status === 404) {
        // Gone (or never there): nothing left to show or to refresh every few seconds.
        stopTimer();
        clearDetail(id);
        $('wd-summary').textContent = '';
      }
      $('wd-error').textContent =
        error.status === 404 ? `Webhook ${id} was not found.` : `Could not load the log: ${errorText(error)}`;
    }
  }

  function clearDetail(id) {
    $('wd-title').textContent = id;
    $('wd-facts').replaceChildren();
    $('wd-actions').replaceChildren();
    $('deliveries-body').replaceChildren();
  }

  async function replay(entry) {
    try {
      await api(path(page.openId, '/replay'), { method: 'POST', body: { eventId: entry.eventId } });
      $('wd-error').textContent = '';
      $('wd-summary').textContent = `Replay of ${entry.event} queued: it is delivered again from attempt 1.`;
      announce(`Replay of ${entry.event} queued.`);
    } catch (error) {
      $('wd-error').textContent = `Could not replay ${entry.event}: ${errorText(error)}`;
    }
  }

  async function refresh() {
    await (page.openId ? loadLog() : load());
  }

  function stopTimer() {
    clearInterval(page.timer);
    page.timer = null;
  }

  return {
    /** Shows the list (id null; only `number`'s webhooks when given) or one webhook with its log. */
    async show(id, number = '') {
      stopTimer();
      page.openId = id;
      page.numberFilter = number;
      $('webhooks-list').hidden = Boolean(id);
      $('wh-filter-number').hidden = Boolean(id);
      $('webhooks-summary').hidden = Boolean(id);
      $('webhook-detail').hidden = !id;
      if (!id) {
        await load();
        return;
      }
      // Nothing of the webhook shown before: its buttons would act on it from another webhook's address.
      clearDetail(id);
      $('wd-summary').textContent = 'Loading…';
      $('wd-error').textContent = '';
      if (page.numbers.size === 0) {
        await load();
      }
      await loadLog();
      page.timer = setInterval(() => {
        if (!document.hidden) {
          void loadLog();
        }
      }, LOG_REFRESH_MS);
    },
    hide() {
      stopTimer();
      page.openId = null;
    },
    reset() {
      stopTimer();
      Object.assign(page, { webhooks: [], numbers: new Map(), openId: null });
      hideSecret();
      showError('');
      $('webhooks-body').replaceChildren();
      $('deliveries-body').replaceChildren();
    },
    wire() {
      $('webhook-form').addEventListener('submit', (e) => {
        e.preventDefault();
        void create();
      });
      $('wh-copy').addEventListener('click', () => void copySecret());
      $('wh-filter-number').addEventListener('change', filterChanged);
      $('wd-refresh').addEventListener('click', () => void loadLog());
    },
  };
}
