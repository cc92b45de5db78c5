// What makes an SDP a WebRTC audio session at all, checked without a peer: what Meta checks before it takes one
// (the sandbox plays Meta with it), and what the engine checks before it reserves anything for an offer.

/**
 * A call's session has one audio section (a browser may add video or data ones) and a handful of candidates each.
 * werift's work grows faster than linearly with the sections: an offer with hundreds of them held the event loop for
 * seconds, so one request could stall every call of the process.
 */
const MAX_MEDIA_SECTIONS = 4;
const MAX_CANDIDATES = 64;

/** Why this SDP is no WebRTC audio session (no audio over DTLS-SRTP, ICE credentials, fingerprint or Opus), or null. */
export function webRtcAudioProblem(sdp: string): string | null {
  const sections = sdp.match(/^m=/gm)?.length ?? 0;
  if (sections > MAX_MEDIA_SECTIONS) {
    return `${sections} media sections (m=): a call has at most ${MAX_MEDIA_SECTIONS}`;
  }
  const candidates = sdp.match(/^a=candidate:/gm)?.length ?? 0;
  if (candidates > MAX_CANDIDATES) {
    return `${candidates} ICE candidates: at most ${MAX_CANDIDATES}`;
  }
  const checks: [RegExp, string][] = [
    [/^v=0\r?$/m, 'no v=0 line'],
    [/^m=audio \d+ UDP\/TLS\/RTP\/SAVPF /m, 'no WebRTC audio (m=audio … UDP/TLS/RTP/SAVPF)'],
    [/^a=ice-ufrag:\S+/m, 'no a=ice-ufrag'],
    [/^a=ice-pwd:\S+/m, 'no a=ice-pwd'],
    [/^a=fingerprint:\S+ \S+/m, 'no a=fingerprint'],
    [/^a=rtpmap:\d+ opus\/48000/im, 'no Opus'],
  ];
  return checks.find(([pattern]) => !pattern.test(sdp))?.[1] ?? null;
}
