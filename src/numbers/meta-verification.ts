// A Meta number is registered only once Graph has shown that its access token reaches its phone_number_id: the id
// is unique across tenants and routes Meta's webhooks, so whoever registered an id first would otherwise hold it.
import { providerError } from '../calls/provider-errors.ts';
import { ApiError } from '../errors.ts';
import type { ProviderFailure } from '../providers/types.ts';

/** Asks Graph whether the token reaches the number (MetaProvider.verifyNumber). */
export type MetaNumberCheck = (phoneNumberId: string, accessToken: string) => Promise<{ ok: true } | ProviderFailure>;

/** Graph's "missing permission" codes (providers-meta §2.2): 10 and 200–299. */
function isPermissionCode(code: ProviderFailure['providerCode']): boolean {
  return typeof code === 'number' && (code === 10 || (code >= 200 && code <= 299));
}

/**
 * What the tenant is told when Graph did not confirm the number. The token's and the id's problems are the
 * caller's to fix (400, naming the field); Graph down or failing is a 502 like every provider failure, and its
 * other refusals (a rate limit, a policy block) keep their usual mapping. A missing permission is a refusal too:
 * Meta does not say whether Graph checks it before it looks at the object, so a token without it may prove nothing
 * about the number, and accepting it would let any token without the permission claim any id.
 */
export function metaVerificationRefusal(f: ProviderFailure, phoneNumberId: string): ApiError {
  const providerCode = f.providerCode;
  if (f.category === 'AUTH' && isPermissionCode(providerCode)) {
    return validation(
      'meta.accessToken',
      'Meta says this access token may not read the number: callgate checks that the token reaches ' +
        `phone_number_id ${phoneNumberId} by reading its settings (GET /{phone_number_id}/settings), which needs ` +
        'the whatsapp_business_management permission (calling settings need it too)',
      providerCode,
    );
  }
  if (f.category === 'AUTH') {
    return validation(
      'meta.accessToken',
      'Meta refused this access token (invalid, expired or revoked): give a valid token of the business that ' +
        'owns the number',
      providerCode,
    );
  }
  if (f.category === 'INVALID_REQUEST' && providerCode === 100) {
    // The request has no parameter but the id: "invalid parameter" here is Graph's "unknown object" (subcode 33).
    return validation(
      'meta.phoneNumberId',
      `Meta says this access token cannot reach phone_number_id ${phoneNumberId}: it does not exist, or it belongs ` +
        'to a business the token is not for',
      providerCode,
    );
  }
  return providerError(f, 'other');
}

function validation(field: string, reason: string, providerCode: ProviderFailure['providerCode']): ApiError {
  // Left out when Graph gave none (a 401 without its error body, say): no null fields in details.
  return new ApiError('VALIDATION_ERROR', {
    details: { field, reason, ...(providerCode !== null ? { providerCode } : {}) },
  });
}
