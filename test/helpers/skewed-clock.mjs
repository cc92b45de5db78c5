// Preloaded into a child process (NODE_OPTIONS=--import): its clock runs CALLGATE_TEST_CLOCK_SKEW_MS ahead of this
// host's, like a server on another host whose clock is off. Date.now() and new Date() both see it.
const skew = Number(process.env.CALLGATE_TEST_CLOCK_SKEW_MS ?? 0);
const HostDate = Date;

class SkewedDate extends HostDate {
  constructor(...args) {
    if (args.length === 0) {
      super(HostDate.now() + skew);
    } else {
      super(...args);
    }
  }

  static now() {
    return HostDate.now() + skew;
  }
}

globalThis.Date = SkewedDate;
