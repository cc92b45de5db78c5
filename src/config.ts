// Turns an environment (process.env by default) into the Config that the server, the worker and the store commands
// receive: they read no variable themselves. Elsewhere, the CLI reads its own (CALLGATE_URL, CALLGATE_API_KEY[_ID])
// from the env cli/main.ts hands its commands, and src/compile-cache.mjs reads NODE_COMPILE_CACHE before any module
// of ours loads.
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { type AllowedHosts, parseAllowedHosts } from './providers/evolution/allowed-hosts.ts';
import { DEFAULT_RETRY_SCHEDULE_MS } from './webhooks/retry-schedule.ts';

export type SqliteSynchronous = 'FULL' | 'NORMAL';

export interface RateLimitConfig {
  perSecond: number;
  burst: number;
}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | null;
  /** SQLite durability: FULL (default) survives power loss; NORMAL survives a process crash only (see docs/benchmarks.md). */
  sqliteSynchronous: SqliteSynchronous;
  redisUrl: string | null;
  secretKey: string | null;
  /** A SECRET_KEY being replaced: it still opens what it sealed until `callgate secret-key rotate` re-seals it. */
  previousSecretKey: string | null;
  metaGraphBaseUrl: string;
  metaGraphVersion: string;
  /** META_VERIFY_NUMBERS: a META number is stored only once Graph shows its token reaches its phone_number_id. */
  metaVerifyNumbers: boolean;
  webhookAllowInsecureUrls: boolean;
  /** Delay before each delivery attempt (index 0 = the first); its length is the number of attempts. */
  webhookRetryScheduleMs: readonly number[];
  /** Per-attempt timeout of a webhook POST. */
  webhookTimeoutMs: number;
  apiKeyIdAuth: boolean;
  providerTimeoutMs: number;
  /** Evolution's dial answers only once the phone rings. */
  evolutionDialTimeoutMs: number;
  /** An Evolution reject/hang-up its server has not confirmed by an end event this long after is logged as unconfirmed. */
  evolutionConfirmTimeoutMs: number;
  /**
   * The operator's Evolution Go server for web numbers onboarded by QR (Pilot's POST /v1/numbers {name, number}):
   * both set, or QR onboarding is off. The global key is a secret: never logged.
   */
  evolutionServer: { baseUrl: string; globalApiKey: string } | null;
  /** The Evolution Go servers a web number's baseUrl may name (EVOLUTION_BASE_URL's among them); null: any. */
  evolutionAllowedHosts: AllowedHosts;
  /** callgate's own address as the Evolution server reaches it (its webhook URL); null: the request's origin. */
  publicBaseUrl: string | null;
  tombstoneTtlSeconds: number;
  ringTimeoutSeconds: number;
  /**
   * Addresses the sandbox's simulated users announce as ICE candidates; empty: every local interface.
   * Exactly ["127.0.0.1"] keeps sandbox media on loopback (tests, a browser on the same machine).
   */
  sandboxMediaAddresses: readonly string[];
  /** How often the sweeper looks for calls to end (ring timeout, max duration). */
  sweepIntervalMs: number;
  rateLimit: RateLimitConfig;
  terminateRateLimit: RateLimitConfig;
  workers: 'in-process' | 'off';
  logLevel: string;
  /** json, pretty, or auto: pretty when stdout is a terminal. */
  logFormat: 'json' | 'pretty' | 'auto';
  /** Bearer token GET /metrics requires; null: open. */
  metricsToken: string | null;
  /** Live event streams one key may hold open at once, per process. */
  eventStreamsPerKey: number;
  /** Webhook subscriptions one number may have. */
  webhooksPerNumber: number;
  /** Days the webhook log (attempts, finished deliveries) is kept; 0 keeps it forever. */
  webhookLogRetentionDays: number;
  media: MediaConfig;
}

/** The server media engine (docs/media-engine.md). */
export interface MediaConfig {
  enabled: boolean;
  maxSessions: number;
  /** New sessions are refused while more than this share (%) of the last ~10 s's frames went out late; 0: never. */
  maxLatePercent: number;
  /** Worker threads the sessions are spread over; 0 runs them on the API's own thread. */
  workers: number;
  /** A loopback call at start, so the first real call does not pay for cold code, libopus and the certificate. */
  warmUp: boolean;
  /** Address announced in ICE candidates; a loopback one keeps all media on 127.0.0.1 (tests). */
  publicIp: string | null;
  portRange: [number, number] | null;
  stunUrls: string[];
  recordingsDir: string;
  /** Days a finished recording's file is kept; 0: for ever. */
  recordingRetentionDays: number;
  /** ws(s)://host[:port] this process's realtime sockets are reached at; null: from the request's Host. */
  publicWsBaseUrl: string | null;
  /** No audio from the peer for this long ends the call FAILED/media_timeout. */
  timeoutSeconds: number;
  playMaxBytes: number;
  playMaxSeconds: number;
}

export class ConfigError extends Error {}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

type Env = Record<string, string | undefined>;

/** Node's timers take at most 2^31-1 ms (~24.8 days): a longer delay fires after 1 ms instead. */
const MAX_TIMER_MS = 2_147_483_647;
const MIN_SECRET_KEY_LENGTH = 32;
const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

function int(env: Env, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  // Plain decimal digits only: Number() would also take "1e3", "0x10" and " 80".
  const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(`${name} must be an integer ${range}, got "${raw}"`);
  }
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') {
    return fallback;
  }
  if (['true', '1', 'yes', 'on'].includes(raw)) {
    return true;
  }
  if (['false', '0', 'no', 'off'].includes(raw)) {
    return false;
  }
  // The README gives some of these as on/off (MEDIA_WARMUP): the message names every accepted spelling.
  throw new ConfigError(`${name} must be true or false (on/off, yes/no and 1/0 work too), got "${env[name]}"`);
}

function msList(env: Env, name: string, fallback: readonly number[]): readonly number[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') {
    return fallback;
  }
  const parts = raw.split(',').map((part) => part.trim());
  const values = parts.map((part) => (/^\d+$/.test(part) ? Number(part) : Number.NaN));
  if (values.some((v) => !Number.isSafeInteger(v) || v > MAX_TIMER_MS)) {
    throw new ConfigError(`${name} must be a comma-separated list of integers from 0 to ${MAX_TIMER_MS}, got "${raw}"`);
  }
  return Object.freeze(values);
}

/**
 * The store a configuration opens, as the server's ready line and the CLI's store commands name it
 * (`sqlite ./data/callgate.db`, `postgres db.internal:5432/callgate`, never a password): the README has the key
 * created "against the same store", which a reader can only check when both say which one they use.
 */
export function storeLocation(config: Pick<Config, 'databaseUrl' | 'dataDir'>): string {
  return config.databaseUrl
    ? `postgres ${postgresLocation(config.databaseUrl) ?? '(unparseable DATABASE_URL)'}`
    : `sqlite ${config.dataDir.replace(/\/+$/, '')}/callgate.db`;
}

/**
 * host[:port]/database of a DATABASE_URL, for messages; null when it cannot be read. The user and password go first,
 * everything up to the last @: a password written unencoded may hold a /, and after digits URL parsers read it as a
 * port and a path, which would print the rest of it. pg takes strings WHATWG URL refuses (no host before the path,
 * the host in the query; a socket path): their TypeError would print the URL, password and all.
 */
export function postgresLocation(databaseUrl: string): string | null {
  let url: URL;
  try {
    // Any number of slashes after the scheme, as quoted() reads it: pg takes postgres:/user:pw@host/db too (a typo
    // the config lets through), where the password would otherwise be read as the path and printed.
    url = new URL(databaseUrl.replace(/^([a-z][a-z0-9+.-]*:\/*).*@/is, '$1'));
  } catch {
    return null;
  }
  const host = url.searchParams.get('host') ?? (url.host || 'localhost');
  return `${host}${url.pathname}`;
}

/**
 * A URL-like value as an error may quote it: a password in it (redis://:pw@host, https://user:pw@host) is masked,
 * since the message goes to the log and often to whoever reads the deployment's output. Everything up to the last @
 * goes: a password written unencoded may hold /, ? or #, and a value refused here is no URL to parse anyway.
 */
function quoted(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/*)?.*@/is, (_match, scheme: string | undefined) => `${scheme ?? ''}***@`);
}

function mediaConfig(env: Env, dataDir: string): MediaConfig {
  const engine = (env.MEDIA_ENGINE || 'on').toLowerCase();
  if (engine !== 'on' && engine !== 'off') {
    throw new ConfigError(`MEDIA_ENGINE must be on or off, got "${env.MEDIA_ENGINE}"`);
  }
  const portMin = int(env, 'MEDIA_PORT_MIN', 0);
  const portMax = int(env, 'MEDIA_PORT_MAX', 0);
  if ((portMin === 0) !== (portMax === 0) || portMin > portMax || portMax > 65_535) {
    throw new ConfigError('MEDIA_PORT_MIN and MEDIA_PORT_MAX must be set together, with MIN <= MAX <= 65535');
  }
  const stunUrls = (env.MEDIA_STUN_URLS ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  for (const url of stunUrls) {
    if (!/^stuns?:[^\s]+$/.test(url)) {
      throw new ConfigError(`MEDIA_STUN_URLS entries must look like stun:host:port, got "${quoted(url)}"`);
    }
  }
  // Off by default: on a 2-CPU host the threads' messages cost more than they spread (docs/benchmarks.md, "Media").
  const workers = int(env, 'MEDIA_WORKERS', 0, 0);
  if (workers > 64) {
    throw new ConfigError(`MEDIA_WORKERS must be at most 64, got "${env.MEDIA_WORKERS}"`);
  }
  // Each worker binds in its own part of the range (src/media/workers/worker-pool.ts).
  if (workers > 0 && portMin && portMax - portMin + 1 < workers) {
    throw new ConfigError('MEDIA_PORT_MIN..MEDIA_PORT_MAX must hold at least one port per MEDIA_WORKERS thread');
  }
  // It becomes an ICE host candidate as written: a name (or a typo) would start fine and leave every call silent.
  const publicIp = env.MEDIA_PUBLIC_IP || null;
  if (publicIp !== null && isIP(publicIp) === 0) {
    throw new ConfigError(`MEDIA_PUBLIC_IP must be an IP address, got "${env.MEDIA_PUBLIC_IP}"`);
  }
  const wsBase = env.PUBLIC_WS_BASE_URL?.replace(/\/+$/, '') || null;
  if (wsBase !== null && !/^wss?:\/\/[^/]+$/.test(wsBase)) {
    throw new ConfigError(
      `PUBLIC_WS_BASE_URL must look like wss://host[:port], got "${quoted(env.PUBLIC_WS_BASE_URL ?? '')}"`,
    );
  }
  return {
    enabled: engine === 'on',
    maxSessions: int(env, 'MEDIA_MAX_SESSIONS', 100, 0),
    maxLatePercent: int(env, 'MEDIA_MAX_LATE_PERCENT', 10, 0, 100),
    workers,
    warmUp: bool(env, 'MEDIA_WARMUP', true),
    publicIp,
    portRange: portMin ? [portMin, portMax] : null,
    stunUrls,
    recordingsDir: env.RECORDINGS_DIR || `${dataDir.replace(/\/+$/, '')}/recordings`,
    recordingRetentionDays: int(env, 'RECORDING_RETENTION_DAYS', 0, 0, 36_500),
    publicWsBaseUrl: wsBase,
    timeoutSeconds: int(env, 'MEDIA_TIMEOUT_SECONDS', 30, 1, MAX_TIMER_SECONDS),
    playMaxBytes: int(env, 'MEDIA_PLAY_MAX_BYTES', 10 * 1024 * 1024, 1),
    playMaxSeconds: int(env, 'MEDIA_PLAY_MAX_SECONDS', 300, 1),
  };
}

function addressList(env: Env, name: string): readonly string[] {
  const raw = env[name]?.trim();
  if (!raw) {
    return Object.freeze([]);
  }
  const values = raw.split(',').map((part) => part.trim());
  if (values.some((v) => isIP(v) === 0)) {
    throw new ConfigError(`${name} must be a comma-separated list of IP addresses, got "${raw}"`);
  }
  return Object.freeze(values);
}

/** An address only this machine reaches: media announced on it is loopback-only (tests, benches, local trials). */
export function isLoopbackAddress(address: string): boolean {
  return /^127\.|^::1$/.test(address);
}

/**
 * SANDBOX_MEDIA_ADDRESSES; unset, every interface, and 127.0.0.1 with them when callgate's own media is on loopback
 * (MEDIA_PUBLIC_IP=127.0.0.1): an engine on 127.0.0.1 alone pairs with no other address, so a sandbox call answered
 * with server media would stay silent, while a browser on the machine pairs with the interfaces.
 */
function sandboxMediaAddresses(env: Env): readonly string[] {
  const listed = addressList(env, 'SANDBOX_MEDIA_ADDRESSES');
  if (listed.length === 0 && env.MEDIA_PUBLIC_IP && isLoopbackAddress(env.MEDIA_PUBLIC_IP)) {
    const interfaces = Object.values(networkInterfaces())
      .flat()
      .filter((i) => i !== undefined && i.family === 'IPv4' && !i.internal)
      .map((i) => i?.address ?? '');
    return Object.freeze(['127.0.0.1', ...interfaces]);
  }
  return listed;
}

/** EVOLUTION_ALLOWED_HOSTS, with the QR onboarding server's host added: its numbers must reach it. */
function allowedEvolutionHosts(env: Env, evolutionBaseUrl: string | null): AllowedHosts {
  if (!env.EVOLUTION_ALLOWED_HOSTS?.trim()) {
    return null;
  }
  const parsed = parseAllowedHosts(env.EVOLUTION_ALLOWED_HOSTS);
  if (!('ok' in parsed)) {
    throw new ConfigError(`EVOLUTION_ALLOWED_HOSTS must be a comma-separated list of host[:port]: ${parsed.error}`);
  }
  if (evolutionBaseUrl !== null && URL.canParse(evolutionBaseUrl)) {
    const own = new URL(evolutionBaseUrl);
    const port = own.port === '' ? (own.protocol === 'https:' ? 443 : 80) : Number(own.port);
    parsed.hosts.push({ hostname: own.hostname, port });
  }
  return Object.freeze(parsed.hosts);
}

export function loadConfig(env: Env = process.env): Config {
  const version = env.META_GRAPH_VERSION || 'v23.0';
  if (!/^v\d+\.\d+$/.test(version)) {
    throw new ConfigError(`META_GRAPH_VERSION must look like v23.0, got "${version}"`);
  }
  // Older Graph versions have no calling endpoints: every call action would fail at Meta instead of at start-up.
  if (Number(version.slice(1, version.indexOf('.'))) < 17) {
    throw new ConfigError(`META_GRAPH_VERSION must be v17.0 or later (calling needs it), got "${version}"`);
  }
  // Any case, as the other word-valued settings (MEDIA_ENGINE, LOG_FORMAT, LOG_LEVEL) take it.
  const workers = (env.WORKERS || 'in-process').toLowerCase();
  if (workers !== 'in-process' && workers !== 'off') {
    throw new ConfigError(`WORKERS must be in-process or off, got "${workers}"`);
  }
  const perSecond = int(env, 'RATE_LIMIT_PER_SECOND', 50, 1);
  const burst = int(env, 'RATE_LIMIT_BURST', 100, 1);
  const databaseUrl = env.DATABASE_URL || null;
  // Any other scheme would be handed to the PostgreSQL driver all the same, and fail later with its own words.
  const databaseScheme = databaseUrl?.match(/^([a-z][a-z0-9+.-]*):\/\//i)?.[1]?.toLowerCase();
  if (databaseScheme && databaseScheme !== 'postgres' && databaseScheme !== 'postgresql') {
    throw new ConfigError(
      `DATABASE_URL must be a postgres:// or postgresql:// URL (callgate's server store is PostgreSQL), got "${quoted(databaseUrl ?? '')}"`,
    );
  }
  const sqliteSynchronous = (env.SQLITE_SYNCHRONOUS || 'FULL').toUpperCase();
  if (sqliteSynchronous !== 'FULL' && sqliteSynchronous !== 'NORMAL') {
    throw new ConfigError(`SQLITE_SYNCHRONOUS must be FULL or NORMAL, got "${env.SQLITE_SYNCHRONOUS}"`);
  }
  const logFormat = (env.LOG_FORMAT || 'auto').toLowerCase();
  if (logFormat !== 'json' && logFormat !== 'pretty' && logFormat !== 'auto') {
    throw new ConfigError(`LOG_FORMAT must be json, pretty or auto, got "${env.LOG_FORMAT}"`);
  }
  // pino throws its own error, with a stack, for a level it does not know.
  const logLevel = (env.LOG_LEVEL || 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
  }
  const metaGraphBaseUrl = env.META_GRAPH_BASE_URL || 'https://graph.facebook.com';
  if (!/^https?:\/\/[^/]/i.test(metaGraphBaseUrl)) {
    throw new ConfigError(`META_GRAPH_BASE_URL must be an http(s) URL, got "${quoted(metaGraphBaseUrl)}"`);
  }
  // A typo here keeps ioredis reconnecting and the rate limits failing open forever. A path (starting with /) is a
  // Unix socket to ioredis, as a Redis on the same host often listens on: it worked before this check, so it stays.
  const redisUrl = env.REDIS_URL || null;
  if (redisUrl !== null && !/^rediss?:\/\/./i.test(redisUrl) && !/^\/[^/]/.test(redisUrl)) {
    throw new ConfigError(`REDIS_URL must be a redis:// or rediss:// URL or a socket path, got "${quoted(redisUrl)}"`);
  }
  const evolutionBaseUrl = env.EVOLUTION_BASE_URL || null;
  const evolutionGlobalApiKey = env.EVOLUTION_GLOBAL_API_KEY || null;
  if ((evolutionBaseUrl === null) !== (evolutionGlobalApiKey === null)) {
    throw new ConfigError('EVOLUTION_BASE_URL and EVOLUTION_GLOBAL_API_KEY go together (QR onboarding of web numbers)');
  }
  if (evolutionBaseUrl !== null && !/^https?:\/\/[^/]/i.test(evolutionBaseUrl)) {
    throw new ConfigError(`EVOLUTION_BASE_URL must be an http(s) URL, got "${quoted(evolutionBaseUrl)}"`);
  }
  const evolutionAllowedHosts = allowedEvolutionHosts(env, evolutionBaseUrl);
  const publicBaseUrl = env.PUBLIC_BASE_URL || null;
  if (publicBaseUrl !== null && !/^https?:\/\/[^/]/i.test(publicBaseUrl)) {
    throw new ConfigError(`PUBLIC_BASE_URL must be an http(s) URL, got "${quoted(publicBaseUrl)}"`);
  }
  const secretKey = env.SECRET_KEY || null;
  if (databaseUrl && !secretKey) {
    throw new ConfigError('SECRET_KEY is required when DATABASE_URL is set');
  }
  // The key is hashed once, not stretched: a short one is a password an attacker holding the store can guess.
  if (secretKey !== null && secretKey.length < MIN_SECRET_KEY_LENGTH) {
    throw new ConfigError(
      `SECRET_KEY must be at least ${MIN_SECRET_KEY_LENGTH} characters (it has ${secretKey.length}): generate one ` +
        'with `openssl rand -base64 32`; to replace a key already in use, give the old one as SECRET_KEY_PREVIOUS ' +
        'and run `callgate secret-key rotate`',
    );
  }
  const dataDir = env.DATA_DIR || './data';
  return {
    port: int(env, 'PORT', 8080, 0, 65_535),
    host: env.HOST || '0.0.0.0',
    dataDir,
    databaseUrl,
    sqliteSynchronous,
    redisUrl,
    secretKey,
    previousSecretKey: env.SECRET_KEY_PREVIOUS || null,
    metaGraphBaseUrl: metaGraphBaseUrl.replace(/\/+$/, ''),
    metaGraphVersion: version,
    metaVerifyNumbers: bool(env, 'META_VERIFY_NUMBERS', true),
    webhookAllowInsecureUrls: bool(env, 'WEBHOOK_ALLOW_INSECURE_URLS', false),
    webhookRetryScheduleMs: msList(env, 'WEBHOOK_RETRY_SCHEDULE_MS', DEFAULT_RETRY_SCHEDULE_MS),
    webhookTimeoutMs: int(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 1, MAX_TIMER_MS),
    apiKeyIdAuth: bool(env, 'API_KEY_ID_AUTH', true),
    providerTimeoutMs: int(env, 'PROVIDER_TIMEOUT_MS', 10_000, 1, MAX_TIMER_MS),
    evolutionDialTimeoutMs: int(env, 'EVOLUTION_DIAL_TIMEOUT_MS', 35_000, 1, MAX_TIMER_MS),
    evolutionConfirmTimeoutMs: int(env, 'EVOLUTION_CONFIRM_TIMEOUT_MS', 15_000, 1, MAX_TIMER_MS),
    evolutionServer:
      evolutionBaseUrl && evolutionGlobalApiKey
        ? { baseUrl: evolutionBaseUrl.replace(/\/+$/, ''), globalApiKey: evolutionGlobalApiKey }
        : null,
    evolutionAllowedHosts,
    publicBaseUrl: publicBaseUrl?.replace(/\/+$/, '') ?? null,
    tombstoneTtlSeconds: int(env, 'TOMBSTONE_TTL_SECONDS', 900, 1, MAX_TIMER_SECONDS),
    ringTimeoutSeconds: int(env, 'RING_TIMEOUT_SECONDS', 90, 1, MAX_TIMER_SECONDS),
    sandboxMediaAddresses: sandboxMediaAddresses(env),
    sweepIntervalMs: int(env, 'SWEEP_INTERVAL_MS', 1000, 10, MAX_TIMER_MS),
    rateLimit: { perSecond, burst },
    // Terminate gets its own, larger bucket so that reads can never starve a hang-up.
    terminateRateLimit: {
      perSecond: Math.max(int(env, 'TERMINATE_RATE_LIMIT_PER_SECOND', 100, 1), perSecond),
      burst: Math.max(int(env, 'TERMINATE_RATE_LIMIT_BURST', 200, 1), burst),
    },
    workers,
    logLevel,
    logFormat,
    metricsToken: env.METRICS_TOKEN || null,
    eventStreamsPerKey: int(env, 'EVENT_STREAMS_PER_KEY', 10, 1),
    webhooksPerNumber: int(env, 'WEBHOOKS_PER_NUMBER', 20, 1),
    // A century at most: the cut-off must stay a date (and 0 already means forever).
    webhookLogRetentionDays: int(env, 'WEBHOOK_LOG_RETENTION_DAYS', 30, 0, 36_500),
    media: mediaConfig(env, dataDir),
  };
}
