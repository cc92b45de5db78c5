// Preloaded into the media bench's server and baseline (NODE_OPTIONS=--import): timestamps every RTP packet the
// process hands to a UDP socket, so outbound pacing is measured where it is made, apart from whatever delays the
// caller peers' process adds on receipt. SRTP leaves the RTP header in the clear: SSRC and sequence number are read
// from it (RTCP, STUN and DTLS are told apart by RFC 7983/5761's first-byte and payload-type ranges). On SIGUSR2 it
// prints `MEDIA_SENDS {json}` on stderr — inter-send p99 and max, sequence gaps, packets, streams, and what stalls
// the sends: the event loop's delay (p99, max) and the longest garbage-collection pause — and starts over.
import dgram from 'node:dgram';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';

const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
let gcPauseMax = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcPauseMax = Math.max(gcPauseMax, entry.duration);
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

process.on('SIGUSR2', () => {
  const sorted = intervals.sort((a, b) => a - b);
  const p99 = sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] : null;
  const max = sorted.length ? sorted[sorted.length - 1] : null;
  const loopP99 = loop.percentile(99) / 1e6;
  const loopMax = loop.max / 1e6;
  process.stderr.write(
    `MEDIA_SENDS ${JSON.stringify({ p99, max, gaps, packets, streams: streams.size, loopP99, loopMax, gcPauseMax })}\n`,
  );
  loop.reset();
  gcPauseMax = 0;
  intervals = [];
  gaps = 0;
  packets = 0;
});
