/** A CSRF refusal: Django's `csrf_failure` view (`django/views/csrf.py`) as a 403 exception. */
import { ForbiddenException } from '@nestjs/common';

/**
 * A request CsrfGuard rejected: 403 with Django's reason as its message ("CSRF cookie not set.",
 * "CSRF token missing.", "Origin checking failed - … does not match any trusted origins.", …).
 * Django's `CSRF_FAILURE_VIEW` is, in Nest, an exception filter: `@Catch(CsrfFailureException)`.
 */
export class CsrfFailureException extends ForbiddenException {
  constructor(readonly reason: string) {
    super(reason);
  }
}
