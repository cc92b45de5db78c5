import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sine } from '../../../test/helpers/tone.ts';
import {
  PCM16_FRAME_BYTES,
  parsePcm16Binary,
  parsePcm16Text,
  pcm16Encode,
  pcm16Mark,
  pcm16Start,
  pcm16Stop,
} from './pcm16-framing.ts';

test('a 20 ms frame is 640 bytes of little-endian samples and reads back the same', () => {
  const frame = sine(440, 16_000, 0.02);
  const bytes = pcm16Encode(frame);
  assert.equal(bytes.length, PCM16_FRAME_BYTES);
  assert.equal(bytes.readInt16LE(2), frame[1]);
  const back = parsePcm16Binary(bytes);
  assert.deepEqual(back.event === 'media' ? [...back.pcm16k] : [], [...frame]);
});

test('control frames are JSON text: start names the format, stop the reason, mark echoes the name', () => {
  assert.deepEqual(JSON.parse(pcm16Start({ streamId: 's1', callId: 'call_1', mode: 'listen' })), {
    event: 'start',
    streamId: 's1',
    callId: 'call_1',
    mode: 'listen',
    mediaFormat: { encoding: 'audio/l16', sampleRate: 16_000, channels: 1, frameBytes: 640 },
  });
  assert.deepEqual(JSON.parse(pcm16Stop('call_ended')), { event: 'stop', reason: 'call_ended' });
  assert.deepEqual(JSON.parse(pcm16Mark('m1')), { event: 'mark', mark: { name: 'm1' } });
  assert.deepEqual(parsePcm16Text(pcm16Mark('m1')), { event: 'mark', name: 'm1' });
  assert.deepEqual(parsePcm16Text('{"event":"mark","name":"m2"}'), { event: 'mark', name: 'm2' });
  assert.deepEqual(parsePcm16Text('{"event":"clear"}'), { event: 'clear' });
});

test('odd-length, oversized and unknown client frames are reported, never thrown', () => {
  assert.equal(parsePcm16Binary(Buffer.alloc(3)).event, 'error');
  assert.equal(parsePcm16Binary(Buffer.alloc(320_002)).event, 'error');
  for (const text of ['nope', '[]', '{"event":"stop"}', '{"event":"mark"}', 'null']) {
    assert.equal(parsePcm16Text(text).event, 'error', text);
  }
});
