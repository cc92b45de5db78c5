// A call's recording on its page (server media, docs/media-engine.md "Recording"): its state, duration and size as
// the API gives them; a player and a download of the file, fetched with the key as a blob (an <audio src> or a plain
// link would not send the key header); Delete after a confirmation. app.js hands in its helpers and calls render()
// with the call shown (null when none is).

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** What each state means to the person looking at the call. */
const NOTES = {
  recording: 'Being recorded: it can be played once the call ends.',
  failed: 'The recording failed: there is nothing to play. The server log says why.',
  deleted: 'The recording was deleted: there is nothing to play.',
};

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

const sizeFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
function size(bytes) {
  if (bytes < 1000) {
    return `${bytes} B`;
  }
  return bytes < 1_000_000 ? `${sizeFmt.format(bytes / 1000)} kB` : `${sizeFmt.format(bytes / 1_000_000)} MB`;
}

/**
 * @param {{ api: Function, h: Function, announce: (text: string) => void, failureText: (error: any) => string,
 *   label: (call: any) => string, onChanged: (call: any) => void, session: () => number }} deps
 */
export function recordingView({ api, h, announce, failureText, label, onChanged, session }) {
  /** The call whose recording is shown, the status it was shown in, and the object URL of its file. */
  const view = { callId: null, status: null, url: null, seq: 0 };

  function note(text, kind = '') {
    const el = $('recording-note');
    el.textContent = text;
    el.className = `recording-note ${kind}`;
  }

  /** Forgets the file: the player and the link stop pointing at it and the browser frees it. */
  function release() {
    view.seq += 1;
    if (view.url) {
      URL.revokeObjectURL(view.url);
      view.url = null;
    }
    const audio = /** @type {HTMLAudioElement} */ ($('recording-audio'));
    if (audio.getAttribute('src')) {
      audio.removeAttribute('src');
      audio.load();
    }
    $('recording-links').replaceChildren();
    $('recording-player').hidden = true;
  }

  function render(call) {
    const recording = call?.recording;
    if (!call || call.id !== view.callId) {
      release();
      view.callId = call?.id ?? null;
      view.status = null;
      $('recording-result').textContent = '';
    }
    $('recording').hidden = !recording;
    if (!recording) {
      view.status = null;
      return;
    }
    const fact = (name, value) => [h('dt', {}, name), h('dd', {}, value)];
    $('recording-facts').replaceChildren(
      ...fact('State', h('span', { class: `badge r-${recording.status}` }, recording.status)),
      ...fact(
        'Duration',
        recording.durationSeconds === null || recording.durationSeconds === undefined
          ? '—'
          : clock(recording.durationSeconds),
      ),
      ...fact(
        'Size',
        recording.sizeBytes === null || recording.sizeBytes === undefined
          ? '—'
          : h('span', { title: `${recording.sizeBytes} bytes` }, size(recording.sizeBytes)),
      ),
    );
    $('recording-delete').hidden = recording.status !== 'ready' && recording.status !== 'failed';
    if (recording.status === view.status) {
      return;
    }
    view.status = recording.status;
    if (recording.status === 'ready') {
      void load(call);
      return;
    }
    release();
    note(NOTES[recording.status] ?? `Recording ${recording.status}.`);
  }

  async function load(call) {
    release();
    const seq = view.seq;
    const started = session();
    note('Loading the recording…');
    try {
      const blob = await api(`/v1/calls/${encodeURIComponent(call.id)}/recording`, { as: 'blob' });
      if (seq !== view.seq || started !== session()) {
        return;
      }
      view.url = URL.createObjectURL(blob);
      /** @type {HTMLAudioElement} */ ($('recording-audio')).src = view.url;
      // Made here, not in the page: a link is only offered with the file it points at.
      $('recording-links').replaceChildren(
        h('a', { class: 'btn ghost small', href: view.url, download: `${call.id}.ogg` }, 'Download'),
      );
      $('recording-player').hidden = false;
      note('Stereo: the caller on the left, the business on the right.', 'muted');
    } catch (error) {
      if (seq !== view.seq || started !== session()) {
        return;
      }
      // Shown again when the call next changes state: a 409 (still finishing) may be ready by then.
      view.status = null;
      note(`Could not load the recording: ${failureText(error)}`, 'bad');
    }
  }

  async function remove() {
    const callId = view.callId;
    if (!callId) {
      return;
    }
    if (!window.confirm(`Delete the recording of the call with ${label(callId)}? The file is removed for good.`)) {
      return;
    }
    const button = /** @type {HTMLButtonElement} */ ($('recording-delete'));
    const result = $('recording-result');
    const started = session();
    button.disabled = true;
    result.className = 'result';
    result.textContent = 'Deleting…';
    try {
      await api(`/v1/calls/${encodeURIComponent(callId)}/recording`, { method: 'DELETE' });
      const call = await api(`/v1/calls/${encodeURIComponent(callId)}`);
      if (started !== session()) {
        return;
      }
      result.className = 'result ok';
      result.textContent = 'Recording deleted.';
      announce(`Recording of the call with ${label(callId)} deleted.`);
      onChanged(call);
    } catch (error) {
      if (started !== session()) {
        return;
      }
      result.className = 'result bad';
      result.textContent = `Could not delete the recording: ${failureText(error)}`;
    } finally {
      button.disabled = false;
    }
  }

  return {
    render,
    reset: () => render(null),
    wire: () => $('recording-delete').addEventListener('click', () => void remove()),
  };
}
