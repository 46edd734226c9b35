/**
 * Bearer-token authentication and role checks for the DICOMweb and admin routes. Failures are
 * VeilErrors (401 VEIL_E_AUTH_MISSING / _INVALID / _EXPIRED, 403 VEIL_E_AUTH_FORBIDDEN), audited
 * and counted.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { VeilError, type ErrorCode } from '../errors';
import type { GatewayDeps } from '../pipeline/gateway-deps';
import { findToken, loadTokens, type Role, type TokenEntry } from './tokens';

/** Who made the request, once authenticated: the token's name and role. */
export interface Principal {
  readonly name: string;
  readonly role: Role;
}

/** With http.authRequired false every request is this principal (documented as unsafe). */
const ANONYMOUS: Principal = { name: 'anonymous', role: 'admin' };

/** The principal the auth middleware attached to the response locals. */
export function principalOf(res: Response): Principal {
  return (res.locals.principal as Principal | undefined) ?? ANONYMOUS;
}

/**
 * Builds `requireRole(...)`: middleware letting through unexpired tokens of the given roles (admin
 * always). `now` is the clock expiry is checked against.
 */
export function createAuth(
  deps: GatewayDeps,
  now: () => number = Date.now,
): (...roles: Role[]) => RequestHandler {
  const required = deps.config.http.authRequired;
  // Read once at start: `veil token create` output takes effect on the next start.
  const entries: readonly TokenEntry[] = required ? loadTokens(deps.config) : [];

  const refuse = (req: Request, code: ErrorCode, message: string, who: string): VeilError => {
    deps.metrics.failures.inc({ code, stage: 'auth' });
    deps.audit.record({
      type: code === 'VEIL_E_AUTH_FORBIDDEN' ? 'SecurityAlert' : 'UserAuthentication',
      action: 'E',
      outcome: 'minor-failure',
      user: who,
      address: req.socket.remoteAddress,
      errorCode: code,
    });
    return new VeilError(code, message);
  };

  return (...roles: Role[]): RequestHandler =>
    (req: Request, res: Response, next: NextFunction): void => {
      if (!required) {
        res.locals.principal = ANONYMOUS;
        next();
        return;
      }
      const header = req.get('authorization');
      if (header === undefined || header.trim() === '') {
        next(refuse(req, 'VEIL_E_AUTH_MISSING', 'Send Authorization: Bearer <token>', 'unknown'));
        return;
      }
      const m = /^Bearer[ ]+([\x21-\x7e]+)\s*$/i.exec(header);
      const entry = m ? findToken(entries, m[1]!) : undefined;
      if (!entry) {
        next(refuse(req, 'VEIL_E_AUTH_INVALID', 'The bearer token is not valid', 'unknown'));
        return;
      }
      // Checked per request (not when loading): a token expires while the gateway runs.
      if (entry.expiresAt !== undefined && entry.expiresAt.getTime() <= now()) {
        next(
          refuse(
            req,
            'VEIL_E_AUTH_EXPIRED',
            `The bearer token expired at ${entry.expiresAt.toISOString()}`,
            entry.name,
          ),
        );
        return;
      }
      if (entry.role !== 'admin' && !roles.includes(entry.role)) {
        const allowed = ['admin', ...roles].join(' or ');
        next(
          refuse(
            req,
            'VEIL_E_AUTH_FORBIDDEN',
            `Role ${entry.role} may not use this route (needs ${allowed})`,
            entry.name,
          ),
        );
        return;
      }
      res.locals.principal = { name: entry.name, role: entry.role } satisfies Principal;
      next();
    };
}
