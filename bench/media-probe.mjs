// Preloaded into the media bench's server and baseline (NODE_OPTIONS=--import): timestamps every RTP packet the
// process hands to a UDP socket, so outbound pacing is measured where it is made, apart from whatever delays the
// caller peers' process adds on receipt. SRTP leaves the RTP header in the clear: SSRC and sequence number are read
// from it (RTCP, STUN and DTLS are told apart by RFC 7983/5761's first-byte and payload-type ranges). On SIGUSR2 it
// prints `MEDIA_SENDS {json}` on stderr — inter-send p99 and max, sequence gaps, packets, streams, and what stalls
// the sends: the event loop's delay (p99, max) and the longest garbage-collection pause — and starts over.
// NODE_OPTIONS preloads it into every thread: media worker threads (which get no signals) hand their window to the
// main thread over a BroadcastChannel; the figures printed cover every thread, the loop's being the worst thread's.
import dgram from 'node:dgram';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';

const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
let gcPauseMax = 0;
let gcCount = 0;
let gcTotal = 0;
// Pauses by kind (scavenge, mark-compact, incremental marking step, weak callbacks), ms in all.
let gcByKind = {};
const GC_KINDS = { 1: 'scavenge', 2: 'minor-ms', 4: 'major', 8: 'incremental', 16: 'weak' };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcPauseMax = Math.max(gcPauseMax, entry.duration);
    gcCount += 1;
    gcTotal += entry.duration;
    const kind = GC_KINDS[entry.detail?.kind] ?? String(entry.detail?.kind);
    const k = gcByKind[kind] ?? { n: 0, ms: 0, max: 0 };
    gcByKind[kind] = k;
    k.n += 1;
    k.ms += entry.duration;
    k.max = Math.max(k.max, entry.duration);
  }
}).observe({ entryTypes: ['gc'] });

const streams = new Map();
let intervals = [];
let gaps = 0;
let packets = 0;

const send = dgram.Socket.prototype.send;
dgram.Socket.prototype.send = function probedSend(msg, ...rest) {
  const buf = Array.isArray(msg) ? msg[0] : msg;
  if (Buffer.isBuffer(buf) && buf.length >= 12 && buf[0] >> 6 === 2) {
    const payloadType = buf[1] & 0x7f;
    if (payloadType < 64 || payloadType > 95) {
      const now = performance.now();
      const ssrc = buf.readUInt32BE(8);
      const seq = buf.readUInt16BE(2);
      const last = streams.get(ssrc);
      if (last) {
        intervals.push(now - last.at);
        const gap = (seq - last.seq - 1 + 0x10000) % 0x10000;
        gaps += gap < 0x8000 ? gap : 0;
      }
      streams.set(ssrc, { at: now, seq });
      packets += 1;
    }
  }
  return send.call(this, msg, ...rest);
};

/** This thread's window since the last one, and a fresh start. */
function takeWindow() {
  const window = {
    intervals,
    gaps,
    packets,
    streams: streams.size,
    loopP99: loop.percentile(99) / 1e6,
    loopMax: loop.max / 1e6,
    gcPauseMax,
    gcCount,
    gcTotal,
    gcByKind,
  };
  gcByKind = {};
  loop.reset();
  gcPauseMax = 0;
  gcCount = 0;
  gcTotal = 0;
  intervals = [];
  gaps = 0;
  packets = 0;
  return window;
}

const channel = new BroadcastChannel('callgate-media-probe');
channel.unref();
// How long the main thread waits for the workers' windows.
const GATHER_MS = 300;

if (isMainThread) {
  let gathered = null;
  channel.onmessage = ({ data }) => {
    if (data.kind === 'window' && gathered) {
      gathered.push(data.window);
    }
  };
  process.on('SIGUSR2', () => {
    gathered = [takeWindow()];
    channel.postMessage({ kind: 'report' });
    setTimeout(() => {
      const windows = gathered;
      gathered = null;
      const sorted = windows.flatMap((w) => w.intervals).sort((a, b) => a - b);
      const p99 = sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] : null;
      const max = sorted.length ? sorted[sorted.length - 1] : null;
      const sum = (key) => windows.reduce((n, w) => n + w[key], 0);
      const worst = (key) => Math.max(...windows.map((w) => w[key]));
      const figures = {
        p99,
        max,
        gaps: sum('gaps'),
        packets: sum('packets'),
        streams: sum('streams'),
        threads: windows.length,
        loopP99: worst('loopP99'),
        loopMax: worst('loopMax'),
        gcPauseMax: worst('gcPauseMax'),
        gcCount: sum('gcCount'),
        gcTotal: sum('gcTotal'),
        gcByKind: windows.map((w) => w.gcByKind),
      };
      process.stderr.write(`MEDIA_SENDS ${JSON.stringify(figures)}\n`);
    }, GATHER_MS).unref();
  });
} else {
  channel.onmessage = ({ data }) => {
    if (data.kind === 'report') {
      channel.postMessage({ kind: 'window', threadId, window: takeWindow() });
    }
  };
}
