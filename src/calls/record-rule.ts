// `record: true` asks callgate to record a call, which it can only do for media it holds itself: calls answered or
// placed without an SDP on META and SANDBOX numbers. Asked anywhere else, it would be ignored; it is refused instead.
import { ApiError } from '../errors.ts';
import { type ProviderName, speaksMetaModel } from '../model/number.ts';

export function assertRecordable(provider: ProviderName, sdp: string | null | undefined, record: boolean | undefined) {
  if (record !== true) {
    return;
  }
  if (!speaksMetaModel(provider)) {
    throw new ApiError('FEATURE_NOT_SUPPORTED', {
      message: 'Recording needs server media, which web numbers (EVO_GO) do not have',
    });
  }
  if (sdp) {
    throw new ApiError('VALIDATION_ERROR', {
      details: {
        field: 'record',
        reason: 'record needs server media: leave out sdp so that callgate holds (and can record) the media',
      },
    });
  }
}
