/**
 * Failed-login throttling, in memory: a few failures per account name and per client address within a
 * window, then 429 until the window has passed. A success clears the account's count. In memory is
 * enough on a single-process appliance; a restart forgets, which only helps the legitimate user.
 */
export interface LoginLimits {
  windowMs: number;
  perUsername: number;
  perAddress: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { windowMs: 15 * 60_000, perUsername: 5, perAddress: 20 };

export class LoginRateLimiter {
  private readonly limits: LoginLimits;
  private readonly failures = new Map<string, number[]>();

  constructor(limits: LoginLimits = DEFAULT_LOGIN_LIMITS) {
    this.limits = limits;
  }

  /** Milliseconds until another attempt is allowed, 0 when one is allowed now. */
  retryAfterMs(username: string, address: string, at = Date.now()): number {
    const wait = (key: string, limit: number) => {
      const recent = this.recent(key, at);
      return recent.length >= limit ? recent[recent.length - limit] + this.limits.windowMs - at : 0;
    };
    return Math.max(wait(userKey(username), this.limits.perUsername), wait(addressKey(address), this.limits.perAddress));
  }

  recordFailure(username: string, address: string, at = Date.now()): void {
    for (const key of [userKey(username), addressKey(address)]) this.failures.set(key, [...this.recent(key, at), at]);
    if (this.failures.size > 10_000) this.prune(at);
  }

  recordSuccess(username: string): void {
    this.failures.delete(userKey(username));
  }

  private recent(key: string, at: number): number[] {
    return (this.failures.get(key) ?? []).filter((t) => at - t < this.limits.windowMs);
  }

  private prune(at: number): void {
    for (const key of this.failures.keys()) {
      if (this.recent(key, at).length === 0) this.failures.delete(key);
    }
  }
}

const userKey = (username: string) => `user:${username.toLowerCase()}`;
const addressKey = (address: string) => `addr:${address}`;
