// What every webhook route shares: either key scope may call them (docs/spec/webhooks.md), the tag and security.
import type { ErrorCode } from '../../../errors.ts';
import { AUTH_ERRORS, NUMBER_SECURITY } from '../../schemas/common.ts';

export const anyKey = { auth: 'any' as const };
export const base = { tags: ['Webhooks'], security: NUMBER_SECURITY };
/** A webhook of another number (or tenant) is "not found", never "forbidden"; so is a number x-whatsapp-number-id names and the tenant lacks. */
export const lookupErrors: ErrorCode[] = ['VALIDATION_ERROR', 'WEBHOOK_NOT_FOUND', 'NUMBER_NOT_FOUND', ...AUTH_ERRORS];
