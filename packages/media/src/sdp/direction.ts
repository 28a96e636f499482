// Participant role and answered direction from the offerer's direction (PROFILE "Roles from SDP", RFC 3264 §6.1).

export type Role = 'publisher' | 'subscriber' | 'both' | 'inactive';
export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export function roleFromOfferDirection(direction: Direction): Role {
  switch (direction) {
    case 'sendonly':
      return 'publisher';
    case 'recvonly':
      return 'subscriber';
    case 'inactive':
      return 'inactive';
    default:
      return 'both';
  }
}

export function answerDirectionFor(offered: Direction): Direction {
  switch (offered) {
    case 'sendonly':
      return 'recvonly';
    case 'recvonly':
      return 'sendonly';
    default:
      return offered;
  }
}

export function isDirection(value: unknown): value is Direction {
  return value === 'sendrecv' || value === 'sendonly' || value === 'recvonly' || value === 'inactive';
}
