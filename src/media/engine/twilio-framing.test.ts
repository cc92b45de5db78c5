// Checked against Twilio's documented Media Streams messages (WebSocket Messages page): field names, nesting,
// string-typed counters, and the μ-law 8 kHz mono media format.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sine } from '../../../test/helpers/tone.ts';
import { decodeMulaw, encodeMulaw } from './mulaw.ts';
import { parseTwilioClientMessage, TWILIO_FRAME_SAMPLES, TwilioEncoder } from './twilio-framing.ts';

const INFO = {
  streamSid: 'MZ_stream',
  callSid: 'call_1',
  accountSid: 'num_1',
  tracks: ['inbound' as const],
  customParameters: { mode: 'talk' },
};

test('a stream reads connected, start, media…, mark, stop exactly as Twilio writes them', () => {
  const enc = new TwilioEncoder(INFO);
  const frame = sine(440, 8000, 0.02);
  const messages = [
    enc.connected(),
    enc.start(),
    enc.media(frame),
    enc.media(frame),
    enc.mark('greeting-done'),
    enc.stop(),
  ].map((m) => JSON.parse(m));
  assert.deepEqual(messages[0], { event: 'connected', protocol: 'Call', version: '1.0.0' });
  assert.deepEqual(messages[1], {
    event: 'start',
    sequenceNumber: '1',
    start: {
      accountSid: 'num_1',
      streamSid: 'MZ_stream',
      callSid: 'call_1',
      tracks: ['inbound'],
      customParameters: { mode: 'talk' },
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
    },
    streamSid: 'MZ_stream',
  });
  for (const [i, m] of [messages[2], messages[3]].entries()) {
    assert.deepEqual(Object.keys(m).sort(), ['event', 'media', 'sequenceNumber', 'streamSid']);
    assert.equal(m.event, 'media');
    assert.equal(m.sequenceNumber, String(i + 2));
    assert.equal(m.streamSid, 'MZ_stream');
    assert.deepEqual(Object.keys(m.media).sort(), ['chunk', 'payload', 'timestamp', 'track']);
    assert.equal(m.media.track, 'inbound');
    assert.equal(m.media.chunk, String(i + 1));
    assert.equal(m.media.timestamp, String(i * 20));
    const bytes = Buffer.from(m.media.payload, 'base64');
    assert.equal(bytes.length, TWILIO_FRAME_SAMPLES, '20 ms of 8 kHz μ-law is 160 bytes');
    assert.deepEqual([...bytes], [...encodeMulaw(frame)]);
  }
  assert.deepEqual(messages[4], {
    event: 'mark',
    sequenceNumber: '4',
    streamSid: 'MZ_stream',
    mark: { name: 'greeting-done' },
  });
  assert.deepEqual(messages[5], {
    event: 'stop',
    sequenceNumber: '5',
    streamSid: 'MZ_stream',
    stop: { accountSid: 'num_1', callSid: 'call_1' },
  });
});

test('the client’s media, mark and clear messages, as Twilio documents them, are understood', () => {
  const frame = sine(880, 8000, 0.02);
  const payload = Buffer.from(encodeMulaw(frame)).toString('base64');
  const media = parseTwilioClientMessage(
    JSON.stringify({ event: 'media', streamSid: 'MZ_stream', media: { payload } }),
  );
  assert.equal(media.event, 'media');
  assert.deepEqual(media.event === 'media' ? [...media.pcm8k] : [], [...decodeMulaw(encodeMulaw(frame))]);
  assert.deepEqual(
    parseTwilioClientMessage(JSON.stringify({ event: 'mark', streamSid: 'MZ_stream', mark: { name: 'x' } })),
    {
      event: 'mark',
      name: 'x',
    },
  );
  assert.deepEqual(parseTwilioClientMessage(JSON.stringify({ event: 'clear', streamSid: 'MZ_stream' })), {
    event: 'clear',
  });
});

test('malformed client messages are reported, never thrown', () => {
  for (const text of [
    'not json',
    '42',
    'null',
    '{"event":"media"}',
    '{"event":"media","media":{"payload":"!!!"}}',
    '{"event":"mark","mark":{}}',
    '{"event":"mark","mark":{"name":""}}',
    '{"event":"dtmf"}',
    JSON.stringify({ event: 'media', media: { payload: Buffer.alloc(80_001).toString('base64') } }),
  ]) {
    assert.equal(parseTwilioClientMessage(text).event, 'error', text);
  }
});

test('a frame skipped (a client not reading) moves the next media timestamp on, not its chunk', () => {
  const enc = new TwilioEncoder(INFO);
  const frame = sine(440, 8000, 0.02);
  const first = JSON.parse(enc.media(frame));
  enc.skip();
  enc.skip();
  const next = JSON.parse(enc.media(frame));
  assert.deepEqual([first.media.chunk, first.media.timestamp], ['1', '0']);
  // Chunks count the messages sent; the timestamp is the time in the stream: 3 frames, 60 ms, after the first.
  assert.deepEqual([next.media.chunk, next.media.timestamp], ['2', '60']);
});
