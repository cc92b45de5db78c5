// The libopus WebAssembly module (opusscript's build, no native code), instantiated once per process and shared by
// every codec: each codec has its own handler and buffers inside it. Instantiating takes ~25 ms, once per process,
// on the first call that needs a codec: a process start (every API process has the engine on) does not pay it.
import { createRequire } from 'node:module';

export interface OpusHandler {
  _encode(pcm: number, samples: number, packet: number, frameSize: number): number;
  _decode(packet: number, packetBytes: number, pcm: number): number;
  _encoder_ctl(ctl: number, arg: number): number;
}

export interface OpusNative {
  OpusScriptHandler: {
    new (sampleRate: number, channels: number, application: number): OpusHandler;
    destroy_handler(handler: OpusHandler): void;
  };
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  HEAPU8: Uint8Array;
  HEAP16: Int16Array;
  HEAPU16: Uint16Array;
}

let native: OpusNative | null = null;

export function opusNative(): OpusNative {
  native ??= (createRequire(import.meta.url)('opusscript/build/opusscript_native_wasm.js') as () => OpusNative)();
  return native;
}
