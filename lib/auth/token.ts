/**
 * Bearer tokens: `skt_` + 32 random bytes in unpadded base64url (RFC 4648 §5), 256 bits of
 * entropy, so a token cannot be guessed and its unsalted SHA-256 is a safe lookup key. Only that
 * hash is ever stored (TokenRecord.tokenHash); the token itself is shown once, at creation.
 */
import { createHash, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_PREFIX = 'skt_';
const TOKEN_BYTES = 32;
/** 32 bytes are 43 characters of unpadded base64url. */
export const TOKEN_PATTERN = /^skt_[A-Za-z0-9_-]{43}$/;
const HASH_PATTERN = /^[0-9a-f]{64}$/;

export type RandomBytes = (size: number) => Uint8Array;

export interface NewToken {
  /** The secret: give it to the sender once, never store or log it. */
  token: string;
  /** Hex SHA-256 of the token: what the token store keeps. */
  tokenHash: string;
  /** Public id naming the token in listings and revocation (not derived from the secret). */
  tokenId: string;
}

export function generateToken(randomBytes: RandomBytes = cryptoRandomBytes): NewToken {
  const token = TOKEN_PREFIX + Buffer.from(randomBytes(TOKEN_BYTES)).toString('base64url');
  const tokenId = `tok_${Buffer.from(randomBytes(8)).toString('hex')}`;
  return { token, tokenHash: hashToken(token), tokenId };
}

export function isWellFormedToken(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}

export function isTokenHash(hash: string): boolean {
  return HASH_PATTERN.test(hash);
}

/** Hex SHA-256 of a token's UTF-8 bytes. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Compares two hex SHA-256 hashes in constant time, so response timing reveals nothing about
 * how much of a stored hash a guess matched. Malformed input is never equal.
 */
export function tokenHashesEqual(a: string, b: string): boolean {
  if (!isTokenHash(a) || !isTokenHash(b)) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}
