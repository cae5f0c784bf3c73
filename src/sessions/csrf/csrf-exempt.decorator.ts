/** `@CsrfExempt()`: Django's `csrf_exempt` (`django/views/decorators/csrf.py`). */
import { SetMetadata } from '@nestjs/common';

export const CSRF_EXEMPT = 'csrf:exempt';

/** Django's `csrf_exempt`: CsrfGuard lets unsafe requests to this handler (or every handler of this controller) through unchecked. */
export const CsrfExempt = (): MethodDecorator & ClassDecorator => SetMetadata(CSRF_EXEMPT, true);
