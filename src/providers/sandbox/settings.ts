// A sandbox number's behaviour, kept in its public config: how its simulated users answer the business's calls,
// the Meta-shaped calling settings, and which users have granted call permission.
import type { NumberRecord } from '../../model/number.ts';

export const ANSWER_MODES = ['accept', 'reject', 'ignore'] as const;

/** The longest `audio` a simulated call takes (POST /v1/sandbox/calls): a WAV as a data: URL fits in the body. */
export const MAX_AUDIO_CHARS = 700_000;
export type AnswerMode = (typeof ANSWER_MODES)[number];

export interface SandboxSettings {
  /** What a simulated user does when the business calls it. */
  answer: AnswerMode;
  answerAfterSeconds: number;
  /** What the user says once answered (see audio.ts); echo lets a caller hear themselves. */
  audio: string;
  /** The user hangs up this long after answering; null: only the business ends the call. */
  hangupAfterSeconds: number | null;
  /** How a user replies to a call-permission request. */
  permissionReply: 'accept' | 'reject' | 'ignore';
}

export const DEFAULT_SANDBOX_SETTINGS: SandboxSettings = {
  answer: 'accept',
  answerAfterSeconds: 2,
  audio: 'echo',
  hangupAfterSeconds: null,
  permissionReply: 'accept',
};

export interface StoredPermission {
  status: 'temporary' | 'permanent';
  /** Epoch seconds, temporary permissions only. */
  expirationTime: number | null;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function sandboxSettingsOf(number: NumberRecord): SandboxSettings {
  const stored = isObject(number.publicConfig.sandbox) ? number.publicConfig.sandbox : {};
  return { ...DEFAULT_SANDBOX_SETTINGS, ...(stored as Partial<SandboxSettings>) };
}

/** A user's permission now: expired temporary ones read as none, as at Meta. */
export function permissionOf(number: NumberRecord, waId: string, nowMs: number): StoredPermission | null {
  const all = isObject(number.publicConfig.permissions) ? number.publicConfig.permissions : {};
  const p = all[waId];
  if (!isObject(p) || (p.status !== 'temporary' && p.status !== 'permanent')) {
    return null;
  }
  const expirationTime = typeof p.expirationTime === 'number' ? p.expirationTime : null;
  if (p.status === 'temporary' && (expirationTime === null || expirationTime * 1000 <= nowMs)) {
    return null;
  }
  return { status: p.status, expirationTime };
}

export function permissionsPatch(number: NumberRecord, waId: string, permission: StoredPermission | null): Json {
  const all = { ...(isObject(number.publicConfig.permissions) ? number.publicConfig.permissions : {}) };
  if (permission) {
    all[waId] = permission;
  } else {
    delete all[waId];
  }
  return { permissions: all };
}

/** Meta's settings shape (docs/spec/providers-meta.md §1.4), with what this number stored merged over defaults. */
export function callingSettingsOf(number: NumberRecord): Json {
  const stored = isObject(number.publicConfig.calling) ? number.publicConfig.calling : {};
  return {
    calling: {
      status: 'ENABLED',
      call_icon_visibility: 'DEFAULT',
      callback_permission_status: 'ENABLED',
      sip: { status: 'DISABLED' },
      ...stored,
    },
  };
}

/** Calling as the number's settings have it: with `status: DISABLED`, WhatsApp neither delivers nor places calls. */
export function callingEnabled(number: NumberRecord): boolean {
  const calling = callingSettingsOf(number).calling as Record<string, unknown>;
  return calling.status !== 'DISABLED';
}
