// What makes an SDP a WebRTC audio session at all, checked without a peer: what Meta checks before it takes one
// (the sandbox plays Meta with it), and what the engine checks before it reserves anything for an offer.

/** Why this SDP is no WebRTC audio session (no audio over DTLS-SRTP, ICE credentials, fingerprint or Opus), or null. */
export function webRtcAudioProblem(sdp: string): string | null {
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
