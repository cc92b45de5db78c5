/**
 * An SDP as RFC 8866 writes it: CRLF line endings (clients often send bare LF, or a lone CR), starting at `v=0`, one
 * CRLF after the last line. Whitespace around the text is no SDP line. Meta is sent this form, and two answers are
 * the same answer when their forms are: Meta must receive an accept's SDP byte for byte as its pre_accept's
 * (docs/spec/providers-meta.md §1.2), and a repeated pre-accept differing only in line ends is no other answer.
 */
export function canonicalSdp(sdp: string): string {
  return `${sdp.trim().replace(/\r\n|\r|\n/g, '\r\n')}\r\n`;
}
