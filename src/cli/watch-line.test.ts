// `calls watch` prints one line per stream event. The stream carries call snapshots and three events that are not
// (call.permission_updated, call.recording_ready, call.dtmf): each must print, not stop the watch, and keep the columns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StreamEvent } from '../../packages/sdk/src/index.ts';
import { callIdOf, eventLine, WATCH_HEADER } from './calls.ts';

const occurredAt = '2026-12-03T07:10:00.000Z';

test('a recording_ready event prints its call, the recording status and length', () => {
  const event = {
    id: '42',
    event: 'call.recording_ready',
    data: {
      event: 'call.recording_ready',
      eventId: 'evt_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P',
      occurredAt,
      callId: 'call_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P',
      numberId: 'num_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P',
      recording: { status: 'ready', durationSeconds: 12, sizeBytes: 48_000 },
    },
  } as StreamEvent;
  assert.equal(callIdOf(event.data), 'call_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P', 'listen --json names the call');
  const line = eventLine(event);
  assert.match(line, /\s+call\.recording_ready\s+call_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P\s+ready\s+12s\s+-$/);
  assert.equal(line.indexOf('call_01'), WATCH_HEADER.indexOf('CALL'), 'the call id sits under CALL');

  const failed = {
    ...event,
    data: { ...event.data, recording: { status: 'failed', durationSeconds: null, sizeBytes: null } },
  };
  assert.match(eventLine(failed as StreamEvent), /\s+failed\s+-\s+-$/);
});

test('a permission event prints its status and peer', () => {
  const line = eventLine({
    id: '43',
    event: 'call.permission_updated',
    data: {
      event: 'call.permission_updated',
      eventId: 'evt_01JD3Q5Z7Y8X9W0V1T2S3R4Q5Q',
      occurredAt,
      numberId: 'num_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P',
      peerNumber: '+5511999990000',
      status: 'TEMPORARY',
    },
  } as StreamEvent);
  assert.equal(callIdOf({ event: 'call.permission_updated' } as StreamEvent['data']), null);
  assert.match(line, /\s+call\.permission_updated\s+\(permission\)\s+TEMPORARY\s+-\s+\+5511999990000$/);
});

test('a dtmf event prints its call, the key and the keys so far', () => {
  const event = {
    id: '44',
    event: 'call.dtmf',
    data: {
      event: 'call.dtmf',
      eventId: 'evt_01JD3Q5Z7Y8X9W0V1T2S3R4Q5R',
      occurredAt,
      callId: 'call_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P',
      numberId: 'num_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P',
      digit: '#',
      digits: '12#',
      count: 3,
    },
  } as StreamEvent;
  assert.equal(callIdOf(event.data), 'call_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P', 'listen --json names the call');
  const line = eventLine(event);
  assert.match(line, /\s+call\.dtmf\s+call_01JD3Q5Z7Y8X9W0V1T2S3R4Q5P\s+key #\s+-\s+keys 12#$/);
  assert.equal(line.indexOf('call_01'), WATCH_HEADER.indexOf('CALL'), 'the call id sits under CALL');
});
