// A WhatsApp user's answer to a call-permission request, as the domain records it.

export type PermissionStatus = 'NO_PERMISSION' | 'TEMPORARY' | 'PERMANENT';

export interface PermissionReply {
  /** null when Meta names the user only by its business-scoped user id. */
  peerNumber: string | null;
  peerUserId: string | null;
  status: PermissionStatus;
  expiresAt: string | null;
  messageId: string;
  at: string;
}
