// Pairing a web number (EVO_GO) by QR on the Numbers page: shows the QR the server answered (creation or
// POST /v1/numbers/:id/connect) and asks GET /v1/numbers/:id/status until WhatsApp says the number is connected.
// app.js hands in api and announce; onConnected reloads its list.

/** How often the status is asked while a QR waits to be scanned (each ask reaches the Evolution server). */
const STATUS_EVERY_MS = 2000;

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @param {{ api: Function, announce: (text: string) => void, onConnected: () => Promise<void> }} deps */
export function webNumberPairing({ api, announce, onConnected }) {
  /** @type {{ number: any, timer: any } | null} */
  let current = null;

  const status = (text) => {
    $('qr-state').textContent = text;
  };
  const fail = (text) => {
    $('qr-error').textContent = text;
    announce(text);
  };

  function stop() {
    if (current) {
      clearTimeout(current.timer);
    }
    current = null;
  }

  function close() {
    stop();
    $('qr-card').hidden = true;
    /** @type {HTMLImageElement} */ ($('qr-img')).removeAttribute('src');
  }

  /** Shows what the server answered: a QR to scan, a pairing code, or that the number is already open. */
  function render(number, answer) {
    $('qr-card').hidden = false;
    $('qr-title').textContent = `Pair ${number.name} (${number.phoneNumber})`;
    $('qr-error').textContent = '';
    const img = /** @type {HTMLImageElement} */ ($('qr-img'));
    if (answer.state === 'OPEN' || answer.isFullyConnected) {
      img.hidden = true;
      $('qr-new').hidden = true;
      status(`Connected: ${number.name} receives calls.`);
      return false;
    }
    if (answer.qrcode) {
      img.src = answer.qrcode;
      img.hidden = false;
    }
    $('qr-new').hidden = false;
    status('Waiting for the scan…');
    return true;
  }

  async function poll(number) {
    if (current?.number.id !== number.id) {
      return;
    }
    try {
      const answer = await api(`/v1/numbers/${encodeURIComponent(number.id)}/status`);
      if (current?.number.id !== number.id) {
        return;
      }
      if (answer.state === 'OPEN') {
        render(number, answer);
        stop();
        announce(`${number.name} is connected.`);
        await onConnected();
        return;
      }
      $('qr-error').textContent = '';
    } catch (error) {
      // Keep asking: the Evolution server may be briefly away; say so meanwhile.
      fail(`Could not read the connection state: ${error.message}${error.code ? ` (${error.code})` : ''}`);
    }
    if (current?.number.id === number.id) {
      current.timer = setTimeout(() => void poll(number), STATUS_EVERY_MS);
    }
  }

  function watch(number, answer) {
    stop();
    if (render(number, answer)) {
      current = { number, timer: setTimeout(() => void poll(number), STATUS_EVERY_MS) };
    }
  }

  /** A new QR for a number not (or no longer) paired. */
  async function reconnect(number) {
    const button = /** @type {HTMLButtonElement} */ ($('qr-new'));
    button.disabled = true;
    try {
      const answer = await api(`/v1/numbers/${encodeURIComponent(number.id)}/connect`, { method: 'POST', body: {} });
      watch(number, answer);
      if (answer.state === 'OPEN') {
        await onConnected();
      }
    } catch (error) {
      $('qr-card').hidden = false;
      fail(`Could not get a QR for ${number.name}: ${error.message}${error.code ? ` (${error.code})` : ''}`);
    } finally {
      button.disabled = false;
    }
  }

  return {
    watch,
    reconnect,
    close,
    wire() {
      $('qr-new').addEventListener('click', () => {
        const number = current?.number;
        if (number) {
          void reconnect(number);
        }
      });
      $('qr-close').addEventListener('click', close);
    },
  };
}
