// Settings outside the media engine's own (media-config.test.ts): defaults, and values refused with the variable named.
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { test } from 'node:test';
import { ConfigError, loadConfig, postgresLocation, storeLocation } from './config.ts';
import { DEFAULT_RETRY_SCHEDULE_MS } from './webhooks/retry-schedule.ts';

test("webhook delivery defaults are the spec's: a 10 s timeout, the ~3-day schedule, https to public addresses only", () => {
  const config = loadConfig({});
  assert.equal(config.webhookTimeoutMs, 10_000);
  assert.deepEqual(config.webhookRetryScheduleMs, DEFAULT_RETRY_SCHEDULE_MS);
  assert.equal(config.webhookAllowInsecureUrls, false);
  assert.deepEqual(loadConfig({ WEBHOOK_RETRY_SCHEDULE_MS: '0,100,200' }).webhookRetryScheduleMs, [0, 100, 200]);
  assert.equal(loadConfig({ WEBHOOK_ALLOW_INSECURE_URLS: 'true' }).webhookAllowInsecureUrls, true);
});

test('WEBHOOK_LOG_RETENTION_DAYS: 30 by default, 0 keeps the log forever, at most a century', () => {
  assert.equal(loadConfig({}).webhookLogRetentionDays, 30);
  assert.equal(loadConfig({ WEBHOOK_LOG_RETENTION_DAYS: '0' }).webhookLogRetentionDays, 0);
  assert.equal(loadConfig({ WEBHOOK_LOG_RETENTION_DAYS: '36500' }).webhookLogRetentionDays, 36_500);
  for (const bad of ['36501', '-1', '7.5', 'a month']) {
    assert.throws(
      () => loadConfig({ WEBHOOK_LOG_RETENTION_DAYS: bad }),
      (err: Error) =>
        err instanceof ConfigError &&
        err.message === `WEBHOOK_LOG_RETENTION_DAYS must be an integer from 0 to 36500, got "${bad}"`,
    );
  }
});

test('RECORDING_RETENTION_DAYS: recordings kept for ever by default, at most a century', () => {
  assert.equal(loadConfig({}).media.recordingRetentionDays, 0);
  assert.equal(loadConfig({ RECORDING_RETENTION_DAYS: '90' }).media.recordingRetentionDays, 90);
  for (const bad of ['36501', '-1', '0.5', 'forever']) {
    assert.throws(
      () => loadConfig({ RECORDING_RETENTION_DAYS: bad }),
      (err: Error) =>
        err instanceof ConfigError &&
        err.message === `RECORDING_RETENTION_DAYS must be an integer from 0 to 36500, got "${bad}"`,
    );
  }
});

test('SANDBOX_MEDIA_ADDRESSES: every interface by default, and loopback too when the media engine is on it', () => {
  assert.deepEqual(loadConfig({}).sandboxMediaAddresses, []);
  const interfaces = Object.values(networkInterfaces())
    .flat()
    .filter((i) => i?.family === 'IPv4' && !i.internal)
    .map((i) => i?.address);
  assert.deepEqual(loadConfig({ MEDIA_PUBLIC_IP: '127.0.0.1' }).sandboxMediaAddresses, ['127.0.0.1', ...interfaces]);
  assert.deepEqual(loadConfig({ MEDIA_PUBLIC_IP: '203.0.113.7' }).sandboxMediaAddresses, []);
  assert.deepEqual(
    loadConfig({ MEDIA_PUBLIC_IP: '127.0.0.1', SANDBOX_MEDIA_ADDRESSES: '10.0.0.5' }).sandboxMediaAddresses,
    ['10.0.0.5'],
    'what is set wins',
  );
});

test('META_GRAPH_VERSION: v23.0 by default; a malformed one, or one older than calling (v17.0), is refused', () => {
  assert.equal(loadConfig({}).metaGraphVersion, 'v23.0');
  assert.equal(loadConfig({ META_GRAPH_VERSION: 'v17.0' }).metaGraphVersion, 'v17.0');
  assert.equal(loadConfig({ META_GRAPH_VERSION: 'v25.0' }).metaGraphVersion, 'v25.0');
  for (const bad of ['23.0', 'v23', 'v16.0', 'v9.0']) {
    assert.throws(
      () => loadConfig({ META_GRAPH_VERSION: bad }),
      (err: Error) => err instanceof ConfigError && err.message.startsWith('META_GRAPH_VERSION must'),
      bad,
    );
  }
});

const refused = (env: Record<string, string>, message: string) =>
  assert.throws(
    () => loadConfig(env),
    (err: Error) => err instanceof ConfigError && err.message === message,
    JSON.stringify(env),
  );

test('integer settings take plain decimal digits only: no exponent, hex, sign games or padding', () => {
  for (const bad of ['1e3', '0x10', ' 80', '80 ', '8080.0', '+80', 'abc', '-1']) {
    refused({ PORT: bad }, `PORT must be an integer from 0 to 65535, got "${bad}"`);
  }
  assert.equal(loadConfig({ PORT: '' }).port, 8080, 'empty is unset');
  assert.equal(loadConfig({ PORT: '0' }).port, 0);
  refused({ PORT: '65536' }, 'PORT must be an integer from 0 to 65535, got "65536"');
  refused({ RATE_LIMIT_BURST: '0' }, 'RATE_LIMIT_BURST must be an integer >= 1, got "0"');
  refused(
    { EVENT_STREAMS_PER_KEY: '99999999999999999999' },
    'EVENT_STREAMS_PER_KEY must be an integer >= 1, got "99999999999999999999"',
  );
});

test('timeouts and intervals past what a Node timer holds (2^31-1 ms) are refused, not run as 1 ms', () => {
  for (const name of ['PROVIDER_TIMEOUT_MS', 'EVOLUTION_DIAL_TIMEOUT_MS', 'WEBHOOK_TIMEOUT_MS']) {
    assert.doesNotThrow(() => loadConfig({ [name]: '2147483647' }), name);
    refused({ [name]: '2147483648' }, `${name} must be an integer from 1 to 2147483647, got "2147483648"`);
  }
  refused(
    { SWEEP_INTERVAL_MS: '4000000000' },
    'SWEEP_INTERVAL_MS must be an integer from 10 to 2147483647, got "4000000000"',
  );
  for (const name of ['RING_TIMEOUT_SECONDS', 'TOMBSTONE_TTL_SECONDS', 'MEDIA_TIMEOUT_SECONDS']) {
    refused({ [name]: '2147484' }, `${name} must be an integer from 1 to 2147483, got "2147484"`);
    refused({ [name]: '0' }, `${name} must be an integer from 1 to 2147483, got "0"`);
  }
  assert.equal(loadConfig({ RING_TIMEOUT_SECONDS: '2147483' }).ringTimeoutSeconds, 2_147_483);
});

test('WEBHOOK_RETRY_SCHEDULE_MS: an empty or malformed entry is refused, not read as 0', () => {
  for (const bad of [',', '1,,2', '0,5000,', '1e3', '0,-5', '0,2147483648']) {
    refused(
      { WEBHOOK_RETRY_SCHEDULE_MS: bad },
      `WEBHOOK_RETRY_SCHEDULE_MS must be a comma-separated list of integers from 0 to 2147483647, got "${bad}"`,
    );
  }
  assert.deepEqual(loadConfig({ WEBHOOK_RETRY_SCHEDULE_MS: ' 0, 100 ' }).webhookRetryScheduleMs, [0, 100]);
});

test('LOG_LEVEL, META_GRAPH_BASE_URL and REDIS_URL are checked at start, naming the variable', () => {
  assert.equal(loadConfig({}).logLevel, 'info');
  assert.equal(loadConfig({ LOG_LEVEL: 'WARN' }).logLevel, 'warn');
  refused({ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"');
  assert.equal(loadConfig({ META_GRAPH_BASE_URL: 'http://127.0.0.1:9/' }).metaGraphBaseUrl, 'http://127.0.0.1:9');
  refused(
    { META_GRAPH_BASE_URL: 'graph.facebook.com' },
    'META_GRAPH_BASE_URL must be an http(s) URL, got "graph.facebook.com"',
  );
  assert.equal(loadConfig({ REDIS_URL: 'rediss://cache:6380/0' }).redisUrl, 'rediss://cache:6380/0');
  refused(
    { REDIS_URL: 'localhost:6379' },
    'REDIS_URL must be a redis:// or rediss:// URL or a socket path, got "localhost:6379"',
  );
  // ioredis reads a string starting with / as a Unix socket: a Redis on the same host often listens on one.
  assert.equal(loadConfig({ REDIS_URL: '/run/redis/redis.sock' }).redisUrl, '/run/redis/redis.sock');
});

test('a refused URL is quoted without the password it carries: the message goes to the log', () => {
  refused(
    { REDIS_URL: 'redis:/:s3cret-pw@cache:6379' },
    'REDIS_URL must be a redis:// or rediss:// URL or a socket path, got "redis:/***@cache:6379"',
  );
  refused(
    { REDIS_URL: 'http://default:s3cret-pw@cache:6379/0' },
    'REDIS_URL must be a redis:// or rediss:// URL or a socket path, got "http://***@cache:6379/0"',
  );
  refused(
    { REDIS_URL: 'user:s3cret-pw@cache' },
    'REDIS_URL must be a redis:// or rediss:// URL or a socket path, got "user:***@cache"',
  );
  refused(
    { EVOLUTION_BASE_URL: 'ftp://admin:s3cret-pw@evo', EVOLUTION_GLOBAL_API_KEY: 'k' },
    'EVOLUTION_BASE_URL must be an http(s) URL, got "ftp://***@evo"',
  );
  refused(
    { PUBLIC_BASE_URL: 'callgate:s3cret-pw@host' },
    'PUBLIC_BASE_URL must be an http(s) URL, got "callgate:***@host"',
  );
  refused(
    { META_GRAPH_BASE_URL: 'graph:s3cret-pw@x' },
    'META_GRAPH_BASE_URL must be an http(s) URL, got "graph:***@x"',
  );
  refused(
    { PUBLIC_WS_BASE_URL: 'wss://u:s3cret-pw@host/path' },
    'PUBLIC_WS_BASE_URL must look like wss://host[:port], got "wss://***@host/path"',
  );
  // A password written unencoded may hold /, ? or #, which end a URL's authority: it is masked all the same.
  refused(
    { DATABASE_URL: 'mysql://app:pa/ss#w?rd@db:3306/calls', SECRET_KEY: 'k'.repeat(32) },
    'DATABASE_URL must be a postgres:// or postgresql:// URL (callgate\'s server store is PostgreSQL), got "mysql://***@db:3306/calls"',
  );
  refused(
    { REDIS_URL: 'http://:Zx#9/q?@cache:6379' },
    'REDIS_URL must be a redis:// or rediss:// URL or a socket path, got "http://***@cache:6379"',
  );
  // Nothing else is hidden: the value is still recognisable.
  refused(
    { REDIS_URL: 'localhost:6379' },
    'REDIS_URL must be a redis:// or rediss:// URL or a socket path, got "localhost:6379"',
  );
});

test('WORKERS takes any case, as the other word-valued settings do; anything else is named', () => {
  assert.equal(loadConfig({ WORKERS: 'OFF' }).workers, 'off');
  assert.equal(loadConfig({ WORKERS: 'In-Process' }).workers, 'in-process');
  refused({ WORKERS: 'none' }, 'WORKERS must be in-process or off, got "none"');
});

test('on/off settings say which spellings they take: MEDIA_WARMUP is documented as on, not true', () => {
  assert.equal(loadConfig({ MEDIA_WARMUP: 'off' }).media.warmUp, false);
  assert.equal(loadConfig({ API_KEY_ID_AUTH: 'no' }).apiKeyIdAuth, false);
  for (const name of ['MEDIA_WARMUP', 'API_KEY_ID_AUTH', 'WEBHOOK_ALLOW_INSECURE_URLS']) {
    refused({ [name]: 'of' }, `${name} must be true or false (on/off, yes/no and 1/0 work too), got "of"`);
  }
});

test('EVOLUTION_ALLOWED_HOSTS: any host when unset; listed, the QR server is reachable too; a bad entry is named', () => {
  assert.equal(loadConfig({}).evolutionAllowedHosts, null);
  assert.deepEqual(
    loadConfig({
      EVOLUTION_ALLOWED_HOSTS: 'evo-a.internal, 10.0.0.7:8080',
      EVOLUTION_BASE_URL: 'https://evo-qr.internal',
      EVOLUTION_GLOBAL_API_KEY: 'global-key',
    }).evolutionAllowedHosts,
    [
      { hostname: 'evo-a.internal', port: null },
      { hostname: '10.0.0.7', port: 8080 },
      { hostname: 'evo-qr.internal', port: 443 },
    ],
  );
  assert.throws(
    () => loadConfig({ EVOLUTION_ALLOWED_HOSTS: 'evo-a.internal,http://evo-b.internal' }),
    (err: Error) =>
      err instanceof ConfigError &&
      err.message ===
        'EVOLUTION_ALLOWED_HOSTS must be a comma-separated list of host[:port]: "http://evo-b.internal" is not a host or host:port',
  );
});

test('DATABASE_URL: a scheme other than postgres:// or postgresql:// is refused at start, its password hidden', () => {
  for (const ok of ['postgres://u:p@db:5432/callgate', 'postgresql://db/callgate', 'POSTGRES://db/x']) {
    assert.equal(loadConfig({ DATABASE_URL: ok, SECRET_KEY: 'k'.repeat(32) }).databaseUrl, ok);
  }
  assert.throws(
    () => loadConfig({ DATABASE_URL: 'mysql://root:hunter2@db/callgate', SECRET_KEY: 'k'.repeat(32) }),
    (err: Error) =>
      err instanceof ConfigError &&
      err.message.startsWith('DATABASE_URL must be a postgres:// or postgresql:// URL') &&
      !err.message.includes('hunter2'),
  );
});

test('SECRET_KEY: fewer than 32 characters is refused at start, saying how to make one and how to replace one', () => {
  assert.throws(
    () => loadConfig({ SECRET_KEY: 'hunter2-but-longer' }),
    (e: Error) =>
      e instanceof ConfigError &&
      e.message.startsWith('SECRET_KEY must be at least 32 characters (it has 18)') &&
      e.message.includes('SECRET_KEY_PREVIOUS') &&
      !e.message.includes('hunter2'),
  );
  const config = loadConfig({ SECRET_KEY: 'x'.repeat(32), SECRET_KEY_PREVIOUS: 'short-old-key' });
  assert.equal(config.secretKey, 'x'.repeat(32));
  assert.equal(config.previousSecretKey, 'short-old-key', 'the key being replaced is only read, whatever its length');
  assert.equal(loadConfig({}).previousSecretKey, null);
});

test('postgresLocation never names the password, however many slashes follow the scheme', () => {
  for (const url of ['postgres:/callgate:s3cret@db/calls', 'postgres:callgate:s3cret@db/calls']) {
    // The config lets these through (no ://), and pg reads them: the location is printed when it cannot connect.
    assert.equal(loadConfig({ DATABASE_URL: url, SECRET_KEY: 'k'.repeat(32) }).databaseUrl, url);
    const where = postgresLocation(url);
    assert.ok(!where?.includes('s3cret'), `${url} => ${where}`);
  }
  assert.equal(postgresLocation('postgres://callgate:12/s3cret@db:5432/calls'), 'db:5432/calls');
});

test('storeLocation names the store the server and the store commands open, never a password', () => {
  assert.equal(storeLocation(loadConfig({})), 'sqlite ./data/callgate.db');
  assert.equal(storeLocation(loadConfig({ DATA_DIR: '/var/lib/callgate/' })), 'sqlite /var/lib/callgate/callgate.db');
  const pg = loadConfig({ DATABASE_URL: 'postgres://callgate:s3cret@db:5432/calls', SECRET_KEY: 'k'.repeat(32) });
  assert.equal(storeLocation(pg), 'postgres db:5432/calls');
});
