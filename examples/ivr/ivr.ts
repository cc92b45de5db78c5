// An IVR on a WhatsApp number, with no WebRTC code: callgate answers the call and holds its audio ("server
// media"); this program only takes webhooks and calls the REST API. A call rings → it is answered → a menu plays →
// the caller presses 1 (another prompt), 2 (their own voice echoed back over a realtime socket) or # (hang up);
// a caller who presses nothing hears the menu again, and after the last time a goodbye before it hangs up.
// Run it: examples/ivr/README.md. In your own project, import from '@callgate/sdk' instead.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Callgate,
  CallgateError,
  type RealtimeStream,
  verifyWebhook,
  type WebhookEvent,
} from '../../packages/sdk/src/index.ts';

const env = process.env;
const apiKey = env.CALLGATE_API_KEY; // the number's key (ps_...)
if (!apiKey) {
  console.error('Set CALLGATE_API_KEY to the number key (examples/ivr/README.md).');
  process.exit(1);
}
const baseUrl = env.CALLGATE_URL ?? 'http://localhost:8080';
const callgate = new Callgate({ baseUrl, apiKey });

/** A number from the environment, or its default: a typo stops the program here, not as a NaN timer later. */
function numberSetting(name: string, fallback: number): number {
  const value = Number(env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`Set ${name} to a number ≥ 0, not "${env[name]}" (examples/ivr/README.md).`);
    process.exit(1);
  }
  return value;
}

// A caller who presses nothing hears the menu again NO_KEY_SECONDS after it ends, MENU_REPEATS times; then a
// goodbye, and the IVR hangs up: a line is not held open for a caller who has put the phone down.
const NO_KEY_SECONDS = numberSetting('NO_KEY_SECONDS', 7);
const MENU_REPEATS = numberSetting('MENU_REPEATS', 2);
// callgate sends no event when a file has played: the program knows its prompts' lengths (and makes its tones so).
const MENU_SECONDS = numberSetting('MENU_PROMPT_SECONDS', 4);
const GOODBYE_SECONDS = numberSetting('GOODBYE_PROMPT_SECONDS', 2);

// Prompts: your recordings (WAV, MP3 or Ogg/Opus URLs callgate can fetch), or tones this program serves itself.
const MENU_HZ = 440;
const SECOND_HZ = 660;
const GOODBYE_HZ = 880;

/** A WAV of a plain tone (16 kHz mono 16-bit), faded in and out so it does not click. */
function toneWav(hz: number, seconds: number): Buffer {
  const rate = 16_000;
  const samples = Math.round(rate * seconds);
  const wav = Buffer.alloc(44 + samples * 2);
  wav.write('RIFF', 0);
  wav.writeUInt32LE(36 + samples * 2, 4);
  wav.write('WAVEfmt ', 8);
  wav.writeUInt32LE(16, 16); // fmt chunk size
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(rate, 24);
  wav.writeUInt32LE(rate * 2, 28); // bytes per second
  wav.writeUInt16LE(2, 32); // bytes per frame
  wav.writeUInt16LE(16, 34); // bits per sample
  wav.write('data', 36);
  wav.writeUInt32LE(samples * 2, 40);
  const fade = rate * 0.02;
  for (let i = 0; i < samples; i++) {
    const gain = Math.min(1, i / fade, (samples - i) / fade);
    wav.writeInt16LE(Math.round(12_000 * gain * Math.sin((2 * Math.PI * hz * i) / rate)), 44 + i * 2);
  }
  return wav;
}
const PROMPT_FILES: Record<string, Buffer> = {
  '/prompts/menu.wav': toneWav(MENU_HZ, MENU_SECONDS),
  '/prompts/second.wav': toneWav(SECOND_HZ, 3),
  '/prompts/goodbye.wav': toneWav(GOODBYE_HZ, GOODBYE_SECONDS),
};

// What we know of each live call; a real service would keep this (and the ids below) in its database.
interface CallState {
  lastKey: number; // the `count` of the last key handled
  echo: RealtimeStream | null;
  noKey: NodeJS.Timeout | undefined; // what happens if the menu gets no key: any key cancels it
  repeats: number; // how many times the menu has played again to a caller who pressed nothing
  leaving: boolean; // the goodbye has started: keys are no longer followed
}
const calls = new Map<string, CallState>();
const seenEvents = new Set<string>(); // delivery is at least once: a retried event has the same eventId

// Set once listening: the webhook's signing secret and the prompts' URLs.
let secret = env.WEBHOOK_SECRET ?? ''; // given when you registered the webhook yourself
let prompts = { menu: '', second: '', goodbye: '' };

const log = (callId: string, what: string) => console.log(`${new Date().toISOString()} ${callId} ${what}`);

async function onEvent(event: WebhookEvent): Promise<void> {
  switch (event.event) {
    case 'call.ringing': {
      if (event.direction !== 'INBOUND') {
        return; // a call this number places rings too: the callee answers that one
      }
      log(event.id, `ringing from ${event.peerNumber ? `+${event.peerNumber}` : event.peerUserId}: answering`);
      calls.set(event.id, { lastKey: 0, echo: null, noKey: undefined, repeats: 0, leaving: false });
      // No SDP: callgate answers and holds the audio. RECORD=true records the call (else the number's setting).
      await callgate.calls.accept(event.id, env.RECORD === 'true' ? { record: true } : {});
      return;
    }
    case 'call.connected': {
      const call = calls.get(event.id);
      if (!call) {
        return; // not a call it answered (one this number placed)
      }
      log(event.id, 'connected: playing the menu (1, 2 or #)');
      await playMenu(event.id, call);
      return;
    }
    case 'call.dtmf': {
      const call = calls.get(event.callId);
      // Deliveries may come out of order after a retry: a key older than one handled is not acted on.
      if (!call || call.leaving || event.count <= call.lastKey) {
        return;
      }
      call.lastKey = event.count;
      log(event.callId, `key ${event.digit} (keys so far: ${event.digits})`);
      clearTimeout(call.noKey); // a key, in the menu or after it: no repeat
      call.echo?.close(); // any key ends the echo
      call.echo = null;
      if (event.digit === '1') {
        await callgate.calls.play(event.callId, { mediaUrl: prompts.second, stopOnKey: true });
      } else if (event.digit === '2') {
        await startEcho(event.callId, call);
      } else if (event.digit === '#') {
        log(event.callId, 'hanging up');
        await callgate.calls.terminate(event.callId);
      } else {
        call.repeats = 0; // someone is there: the repeats count again from none
        await playMenu(event.callId, call);
      }
      return;
    }
    case 'call.ended': {
      log(event.id, `ended: ${event.status} by ${event.endedBy}, ${event.durationSeconds ?? 0} s`);
      const call = calls.get(event.id);
      clearTimeout(call?.noKey);
      call?.echo?.close();
      calls.delete(event.id);
      return;
    }
    default:
      return;
  }
}

/** The menu, and what follows it if no key comes: the menu again, or after the last repeat the goodbye. */
async function playMenu(callId: string, call: CallState): Promise<void> {
  // Set before the request, so that a key arriving while it is sent already finds it to cancel. Counted from here,
  // the menu's length added: callgate does not say when the menu has played.
  call.noKey = setTimeout(
    () => {
      const next = call.repeats < MENU_REPEATS ? repeatMenu : sayGoodbye;
      next(callId, call).catch((error: Error) => console.error(`${callId} no key: ${error.message}`));
    },
    (MENU_SECONDS + NO_KEY_SECONDS) * 1000,
  );
  // stopOnKey: the caller need not hear the whole menu out; their key cuts it short.
  await callgate.calls.play(callId, { mediaUrl: prompts.menu, stopOnKey: true });
}

async function repeatMenu(callId: string, call: CallState): Promise<void> {
  call.repeats += 1;
  log(callId, `no key: playing the menu again (${call.repeats} of ${MENU_REPEATS})`);
  await playMenu(callId, call);
}

async function sayGoodbye(callId: string, call: CallState): Promise<void> {
  log(callId, 'no key: goodbye, hanging up');
  call.leaving = true;
  try {
    await callgate.calls.play(callId, { mediaUrl: prompts.goodbye });
    // Its length, and half a second more: the last of the audio reaches the caller a moment after it is sent.
    await sleep((GOODBYE_SECONDS + 0.5) * 1000);
  } finally {
    await callgate.calls.terminate(callId); // even when the goodbye could not play; a call already over is fine
  }
}

/** The caller's audio, sent straight back: where a voice bot would listen and answer. */
async function startEcho(callId: string, call: CallState): Promise<void> {
  const stream = await callgate.calls.realtime(callId, { mode: 'talk' }); // 16 kHz PCM frames both ways
  call.echo = stream;
  log(callId, 'echo: you hear yourself now');
  for await (const frame of stream) {
    stream.send(frame);
  }
  log(callId, `echo stopped (socket closed with ${await stream.closed})`);
}

const server = createServer((req, res) => {
  const prompt = req.method === 'GET' ? PROMPT_FILES[req.url ?? ''] : undefined;
  if (prompt) {
    res.writeHead(200, { 'content-type': 'audio/wav' }).end(prompt);
    return;
  }
  if (req.method !== 'POST' || req.url !== '/webhooks') {
    res.writeHead(404).end();
    return;
  }
  // The signature covers the body's bytes as sent: read it raw, parse nothing before verifying.
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', async () => {
    let event: WebhookEvent;
    try {
      event = await verifyWebhook(Buffer.concat(chunks), req.headers, secret);
    } catch (error) {
      console.warn(`refused a webhook: ${(error as Error).message}`);
      res.writeHead(401).end();
      return;
    }
    // Answer at once (callgate retries a slow receiver), then act.
    res.writeHead(204).end();
    if (seenEvents.has(event.eventId)) {
      return;
    }
    seenEvents.add(event.eventId);
    onEvent(event).catch((error: Error) => console.error(`${event.event} failed: ${error.message}`));
  });
});

await new Promise<void>((resolve) => {
  // Port 3000 is often taken on a developer's machine (a web app's dev server): say so and how to choose another.
  server.once('error', (error: NodeJS.ErrnoException) => {
    console.error(
      `Cannot listen on PORT=${env.PORT ?? 3000} (${error.code ?? error.message}): set PORT to a free port`,
    );
    process.exit(1);
  });
  server.listen(Number(env.PORT ?? 3000), resolve);
});
const { port } = server.address() as AddressInfo;
// Where callgate reaches this program (its webhooks, and the prompts when they are served from here).
const publicUrl = (env.PUBLIC_URL ?? `http://127.0.0.1:${port}`).replace(/\/+$/, '');
prompts = {
  menu: env.MENU_PROMPT_URL ?? `${publicUrl}/prompts/menu.wav`,
  second: env.SECOND_PROMPT_URL ?? `${publicUrl}/prompts/second.wav`,
  goodbye: env.GOODBYE_PROMPT_URL ?? `${publicUrl}/prompts/goodbye.wav`,
};

// Without WEBHOOK_SECRET, register a webhook to this program now (removed at exit).
let webhookId: string | null = null;
if (!secret) {
  try {
    const webhook = await callgate.webhooks.create({
      url: `${publicUrl}/webhooks`,
      events: ['call.ringing', 'call.connected', 'call.dtmf', 'call.ended'],
    });
    secret = webhook.secret;
    webhookId = webhook.id;
  } catch (error) {
    // One line with callgate's reason (a server started without WEBHOOK_ALLOW_INSECURE_URLS, a wrong key, callgate
    // not running): as a stack trace, the reason was buried in it.
    const reason = error instanceof CallgateError ? error.details?.reason : undefined;
    const why = `${(error as Error).message}${typeof reason === 'string' ? `: ${reason}` : ''}`;
    console.error(`Could not register the webhook ${publicUrl}/webhooks with callgate at ${baseUrl}: ${why}`);
    process.exit(1);
  }
}
console.log(`IVR listening on ${publicUrl}/webhooks${webhookId ? ` (webhook ${webhookId})` : ''}`);

// Under `npm run`, one Ctrl-C arrives twice (the terminal's, then npm's copy): the handler stays for the second,
// which would otherwise kill the program before its webhook is deleted.
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) {
      return;
    }
    stopping = true;
    server.close();
    if (webhookId) {
      await callgate.webhooks.delete(webhookId).catch(() => undefined);
    }
    console.log('IVR stopped');
    process.exit(0);
  });
}
