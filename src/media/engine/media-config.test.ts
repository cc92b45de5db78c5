import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../config.ts';

test('media defaults: engine on, 100 sessions on the API thread, 10 % late frames, 30 s timeout, recordings under DATA_DIR', () => {
  const { media } = loadConfig({ DATA_DIR: '/var/lib/callgate/' });
  assert.equal(media.enabled, true);
  assert.equal(media.maxSessions, 100);
  assert.equal(media.maxLatePercent, 10);
  assert.equal(media.workers, 0);
  assert.equal(media.timeoutSeconds, 30);
  assert.equal(media.recordingsDir, '/var/lib/callgate/recordings');
  assert.equal(media.publicWsBaseUrl, null);
  assert.equal(media.portRange, null);
  assert.deepEqual(media.stunUrls, []);
});

test('media settings are read and checked', () => {
  const { media } = loadConfig({
    MEDIA_ENGINE: 'OFF',
    MEDIA_MAX_SESSIONS: '5',
    MEDIA_WORKERS: '4',
    MEDIA_PUBLIC_IP: '203.0.113.7',
    MEDIA_PORT_MIN: '40000',
    MEDIA_PORT_MAX: '40100',
    MEDIA_STUN_URLS: 'stun:stun.example.org:3478, stun:other.example.org:19302',
    RECORDINGS_DIR: '/recordings',
    PUBLIC_WS_BASE_URL: 'wss://media-1.example.org/',
  });
  assert.equal(media.enabled, false);
  assert.equal(media.maxSessions, 5);
  assert.equal(media.workers, 4);
  assert.equal(media.publicIp, '203.0.113.7');
  assert.deepEqual(media.portRange, [40000, 40100]);
  assert.deepEqual(media.stunUrls, ['stun:stun.example.org:3478', 'stun:other.example.org:19302']);
  assert.equal(media.recordingsDir, '/recordings');
  assert.equal(media.publicWsBaseUrl, 'wss://media-1.example.org');
});

test('bad media settings stop the start with a message naming the variable', () => {
  for (const [env, name] of [
    [{ MEDIA_ENGINE: 'maybe' }, 'MEDIA_ENGINE'],
    [{ MEDIA_MAX_SESSIONS: '-1' }, 'MEDIA_MAX_SESSIONS'],
    [{ MEDIA_WORKERS: 'two' }, 'MEDIA_WORKERS'],
    [{ MEDIA_WORKERS: '65' }, 'MEDIA_WORKERS'],
    [{ MEDIA_WORKERS: '4', MEDIA_PORT_MIN: '40000', MEDIA_PORT_MAX: '40002' }, 'MEDIA_WORKERS'],
    [{ MEDIA_PORT_MIN: '40000' }, 'MEDIA_PORT_MIN'],
    [{ MEDIA_PORT_MIN: '50000', MEDIA_PORT_MAX: '40000' }, 'MEDIA_PORT_MIN'],
    [{ MEDIA_STUN_URLS: 'http://stun.example.org' }, 'MEDIA_STUN_URLS'],
    [{ PUBLIC_WS_BASE_URL: 'https://example.org' }, 'PUBLIC_WS_BASE_URL'],
    [{ PUBLIC_WS_BASE_URL: 'wss://example.org/path' }, 'PUBLIC_WS_BASE_URL'],
    [{ MEDIA_TIMEOUT_SECONDS: '0' }, 'MEDIA_TIMEOUT_SECONDS'],
    [{ MEDIA_MAX_LATE_PERCENT: '101' }, 'MEDIA_MAX_LATE_PERCENT'],
    [{ MEDIA_MAX_LATE_PERCENT: 'high' }, 'MEDIA_MAX_LATE_PERCENT'],
    // Announced as an ICE candidate as written: a host name started and left every server-media call silent.
    [{ MEDIA_PUBLIC_IP: 'media.example.org' }, 'MEDIA_PUBLIC_IP'],
    [{ MEDIA_PUBLIC_IP: '203.0.113' }, 'MEDIA_PUBLIC_IP'],
  ] as const) {
    assert.throws(
      () => loadConfig(env),
      (e) => e instanceof ConfigError && e.message.includes(name),
      JSON.stringify(env),
    );
  }
});
